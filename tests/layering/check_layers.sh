#!/bin/sh
# Checks that the build enforces DESIGN.md's layering: each module of libtessera and
# libtessera_runtime compiles with an include path that holds only what it may use
# (build/layers/MODULE/), so an upward include fails to compile.
#
#   check_layers.sh CC SOURCE_DIR BINARY_DIR
#
# For each module it checks that
#   - its compile commands (compile_commands.json) name its layer folder and neither the
#     source root nor include/, which would let anything through;
#   - the headers it may include compile through its layer;
#   - each header of a module above it fails with "No such file or directory".
# and that no source file escapes its folder with #include "../".
set -u
cc=$1
src=$2
bin=$3
status=0
work=$(mktemp -d "${TMPDIR:-/tmp}/tessera-layers-XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

fail() {
    echo "FAIL: $*"
    status=1
}

# probe MODULE HEADER: compile a file that includes HEADER with MODULE's layer only.
probe() {
    printf '#include "%s"\nint layer_probe;\n' "$2" >"$work/probe.c"
    (cd "$work" && "$cc" -std=c11 -D_POSIX_C_SOURCE=200809L -fsyntax-only \
        -I "$bin/layers/$1" probe.c) >"$work/out" 2>&1
}

allowed() {
    module=$1
    shift
    for header in "$@"; do
        probe "$module" "$header" || { fail "$module may include $header, but:"; cat "$work/out"; }
    done
}

forbidden() {
    module=$1
    shift
    for header in "$@"; do
        if probe "$module" "$header"; then
            fail "$module must not include $header, and it compiles"
        elif ! grep -q "No such file or directory" "$work/out"; then
            fail "$module including $header failed for another reason:"
            cat "$work/out"
        fi
    done
}

for module in tessera_base tessera_rt tessera_rpc tessera_te tessera_schedule \
              tessera_codegen tessera_autotune tessera_relay; do
    [ -d "$bin/layers/$module" ] || fail "no layer folder $bin/layers/$module"
    commands=$(grep "\"command\"" "$bin/compile_commands.json" | grep "CMakeFiles/$module.dir/")
    [ -n "$commands" ] || { fail "no compile command of $module"; continue; }
    echo "$commands" | grep -q -- "-I$bin/layers/$module " ||
        fail "$module does not compile with its layer folder"
    if echo "$commands" | grep -q -e "-I$src " -e "-I$src/include "; then
        fail "$module compiles with the source root or include/ on its path"
    fi
done

allowed tessera_te te/te_internal.h tessera/te.h tessera/ops.h
forbidden tessera_te schedule/sch_internal.h tessera/schedule.h tessera/template.h \
    codegen/cg_internal.h tessera/codegen.h autotune/tune_internal.h tessera/autotune.h \
    tessera/runtime.h tessera/rpc.h relay_lite/rly_internal.h tessera/relay.h

allowed tessera_schedule te/te_internal.h schedule/sch_internal.h tessera/template.h
forbidden tessera_schedule codegen/cg_internal.h tessera/codegen.h tessera/runtime.h \
    autotune/tune_internal.h tessera/autotune.h tessera/rpc.h relay_lite/rly_internal.h \
    tessera/relay.h

allowed tessera_codegen schedule/sch_internal.h tessera/runtime.h \
    tessera/codegen.h
forbidden tessera_codegen autotune/tune_internal.h tessera/autotune.h tessera/rpc.h \
    rpc/rpc_internal.h relay_lite/rly_internal.h tessera/relay.h

allowed tessera_autotune autotune/tune_internal.h tessera/rpc.h tessera/codegen.h
forbidden tessera_autotune tools/tools.h rpc/rpc_internal.h relay_lite/rly_internal.h \
    tessera/relay.h

allowed tessera_relay relay_lite/rly_internal.h tessera/relay.h autotune/tune_internal.h \
    tessera/codegen.h schedule/sch_internal.h te/te_internal.h tessera/autotune.h \
    tessera/runtime.h tessera/rpc.h
forbidden tessera_relay tools/tools.h rpc/rpc_internal.h runtime/rt_internal.h

allowed tessera_rt runtime/rt_internal.h tessera/runtime.h tessera/graph_executor.h
forbidden tessera_rt rpc/rpc_internal.h tessera/rpc.h te/te_internal.h tessera/te.h \
    tessera/codegen.h tessera/relay.h

allowed tessera_rpc tessera/rpc.h runtime/rt_internal.h tessera/graph_executor.h
forbidden tessera_rpc te/te_internal.h tessera/te.h tessera/codegen.h tessera/schedule.h

escapes=$(cd "$src" && grep -rln '#include "\.\./' te schedule codegen runtime rpc autotune relay_lite 2>/dev/null)
[ -z "$escapes" ] || fail "files that include through ../: $escapes"

[ $status -eq 0 ] && echo "layering: every module sees only the layers below it"
exit $status
