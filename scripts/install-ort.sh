#!/bin/sh
# Installs the reference for whole models, ONNX Runtime for Node (onnxruntime-node, the
# version pinned in scripts/ort/package.json and its lock file), project-locally with npm:
# nothing goes into the system, and Tessera's libraries never link or load it; only
# scripts/ort_run.js (run by the model tests, benchmarks/bench_models and `make demo`)
# does. Quiet and quick when the pinned version is already there.
#
#   scripts/install-ort.sh [DIR]     prints nothing on success unless it installed
#   scripts/install-ort.sh --print-dir
#
# DIR defaults to $TESSERA_ORT_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/tessera/ort: a
# cache outside the build folders, since the package is ~290 MB (it ships the
# onnxruntime binaries of every platform) and `make clean` should not throw it away.
# ONNXRUNTIME_NODE_INSTALL=skip and --ignore-scripts: the CPU binaries ship inside the
# package, and its install script would only fetch GPU providers from outside the npm
# registry. Needs node and npm (scripts/install-deps.sh installs them).
set -eu

source_dir=$(cd "$(dirname "$0")/.." && pwd)
pinned_dir="$source_dir/scripts/ort"
home=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
default_dir=${TESSERA_ORT_DIR:-${XDG_CACHE_HOME:-$home/.cache}/tessera/ort}

if [ "${1:-}" = "--print-dir" ]; then
    echo "$default_dir"
    exit 0
fi
dir=${1:-$default_dir}

# The pinned version, from the package.json ("onnxruntime-node": "1.30.0").
want=$(sed -n 's/.*"onnxruntime-node": *"\([^"]*\)".*/\1/p' "$pinned_dir/package.json")
have=""
if [ -f "$dir/node_modules/onnxruntime-node/package.json" ]; then
    have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
        "$dir/node_modules/onnxruntime-node/package.json" | head -n 1)
fi
if [ -n "$want" ] && [ "$have" = "$want" ] &&
    cmp -s "$pinned_dir/package-lock.json" "$dir/package-lock.json"; then
    exit 0
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "install-ort: node and npm are missing (scripts/install-deps.sh installs them)" >&2
    exit 1
fi

echo "install-ort: installing onnxruntime-node $want into $dir"
mkdir -p "$dir"
cp "$pinned_dir/package.json" "$pinned_dir/package-lock.json" "$dir/"
log="$dir/install.log"
if ! (cd "$dir" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --ignore-scripts --no-audit \
    --no-fund --loglevel=error) >"$log" 2>&1; then
    echo "install-ort: npm ci failed; see $log" >&2
    tail -n 20 "$log" >&2
    exit 1
fi
# The check that matters: node loads the binding and knows the CPU provider.
if ! (cd "$dir" && node -e 'require("onnxruntime-node")') >>"$log" 2>&1; then
    echo "install-ort: onnxruntime-node installed but does not load; see $log" >&2
    tail -n 20 "$log" >&2
    exit 1
fi
