# cmake -DPROGRAM=path -DEXPECTED=path -P run_and_check.cmake
#
# Runs PROGRAM and fails unless it exits with 0 and its standard output contains every
# non-empty line of the file EXPECTED (each as a whole line).
if(NOT DEFINED PROGRAM OR NOT DEFINED EXPECTED)
  message(FATAL_ERROR "usage: cmake -DPROGRAM=path -DEXPECTED=path -P ${CMAKE_SCRIPT_MODE_FILE}")
endif()

execute_process(COMMAND "${PROGRAM}"
                RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE errors)
message("${output}")
if(errors)
  message("standard error:\n${errors}")
endif()
if(NOT status STREQUAL "0")
  message(FATAL_ERROR "${PROGRAM} exited with ${status}")
endif()

# Each expected line must be a whole line of the output. The text is walked with
# string(FIND) rather than split into a CMake list, where ';' and '[' are syntax.
file(READ "${EXPECTED}" remaining)
set(output "\n${output}\n")
set(missing "")
while(NOT remaining STREQUAL "")
  string(FIND "${remaining}" "\n" end)
  if(end EQUAL -1)
    set(expected_line "${remaining}")
    set(remaining "")
  else()
    string(SUBSTRING "${remaining}" 0 ${end} expected_line)
    math(EXPR end "${end} + 1")
    string(SUBSTRING "${remaining}" ${end} -1 remaining)
  endif()
  if(NOT expected_line STREQUAL "")
    string(FIND "${output}" "\n${expected_line}\n" found)
    if(found EQUAL -1)
      string(APPEND missing "  ${expected_line}\n")
    endif()
  endif()
endwhile()
if(missing)
  message(FATAL_ERROR "${PROGRAM}'s output lacks these lines:\n${missing}")
endif()
