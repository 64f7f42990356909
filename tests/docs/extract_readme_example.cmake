# cmake -DREADME=path -DSOURCE=path -DEXPECTED=path [-DAFTER=text] -P extract_readme_example.cmake
#
# Writes the README's first ```c code block (the first after the line AFTER, when given)
# into SOURCE, behind a #line directive so
# that compiler messages point into the README, and the first ```text block after it
# (what the README says the example prints) into EXPECTED. Fails if either is missing.
foreach(arg README SOURCE EXPECTED)
  if(NOT DEFINED ${arg})
    message(FATAL_ERROR
      "usage: cmake -DREADME=path -DSOURCE=path -DEXPECTED=path -P ${CMAKE_SCRIPT_MODE_FILE}")
  endif()
endforeach()

# Finds the first block opened by `fence` (e.g. "```c\n") at or after position `from`
# of `text`; sets <prefix>_BODY (with its last newline), <prefix>_START (the offset of
# its first line) and <prefix>_END (the offset just past its closing fence).
function(find_block text from fence prefix)
  string(SUBSTRING "${text}" ${from} -1 rest)
  string(FIND "${rest}" "${fence}" open)
  if(open EQUAL -1)
    message(FATAL_ERROR "${README} has no ${fence}block after offset ${from}")
  endif()
  string(LENGTH "${fence}" fence_length)
  math(EXPR body_offset "${open} + ${fence_length}")
  string(SUBSTRING "${rest}" ${body_offset} -1 body)
  string(FIND "${body}" "\n```" body_length)
  if(body_length EQUAL -1)
    message(FATAL_ERROR "${README}: the ${fence}block at offset ${from} is not closed")
  endif()
  math(EXPR body_length "${body_length} + 1")
  string(SUBSTRING "${body}" 0 ${body_length} body)
  math(EXPR start "${from} + ${body_offset}")
  math(EXPR end "${start} + ${body_length} + 3")
  set(${prefix}_BODY "${body}" PARENT_SCOPE)
  set(${prefix}_START ${start} PARENT_SCOPE)
  set(${prefix}_END ${end} PARENT_SCOPE)
endfunction()

file(READ "${README}" text)
set(from 0)
if(DEFINED AFTER)
  string(FIND "${text}" "${AFTER}" from)
  if(from EQUAL -1)
    message(FATAL_ERROR "${README} has no line \"${AFTER}\"")
  endif()
endif()
find_block("${text}" ${from} "```c\n" CODE)
find_block("${text}" ${CODE_END} "```text\n" OUTPUT)

# The code's first line number: one more than the newlines before it.
string(SUBSTRING "${text}" 0 ${CODE_START} before)
string(REGEX MATCHALL "\n" newlines "${before}")
list(LENGTH newlines line)
math(EXPR line "${line} + 1")

file(WRITE "${SOURCE}" "#line ${line} \"${README}\"\n${CODE_BODY}")
file(WRITE "${EXPECTED}" "${OUTPUT_BODY}")
