#!/bin/sh
# Installs the Debian packages Tessera needs to build and test, when they are missing.
# Quiet and quick when everything is there. Later features add their packages to PACKAGES.
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user cross-build the runtime for
# a 64-bit Arm board and run its tests under emulation (the runtime_aarch64 test); the
# board's runtime (with the RPC server) links the arm64 builds of protobuf-c and libcrypto,
# installed through Debian's multiarch (the ":arm64" packages; the arm64 architecture is
# added to dpkg when missing). clang and libclang-rt-14-dev build the RPC fuzz target
# (libFuzzer). libdnnl-dev (oneDNN) is the low-precision benchmark's reference, linked by
# that benchmark and its test only.
#
# The reference for whole models: python3-torch, python3-torchvision and python3-onnx
# export torchvision models and a torch.nn transformer to ONNX (scripts/export_models.py,
# run by /usr/bin/python3), python3-sklearn is there for the same interpreter's model
# tests, and ONNX Runtime runs under Node (scripts/ort_run.js): nodejs and npm come from
# Debian, where they install together (Debian 12: Node 18, npm 9). A Node from elsewhere
# that brings its own npm (NodeSource's nodejs conflicts with Debian's npm package) is
# kept: they are asked for only when the node or npm command is missing. Last,
# scripts/install-ort.sh installs onnxruntime-node from npm into a project cache, never
# into the system; Tessera's libraries do not depend on any of these.
set -eu

PACKAGES="
build-essential
cmake
pkg-config
llvm-16-dev
libprotobuf-c-dev
protobuf-c-compiler
libopenblas-dev
libdnnl-dev
libcmocka-dev
gcc-aarch64-linux-gnu
libc6-dev-arm64-cross
qemu-user
libssl-dev
libxgboost-dev
libjansson-dev
clang
libclang-rt-14-dev
libprotobuf-c-dev:arm64
libssl-dev:arm64
python3-torch
python3-torchvision
python3-onnx
python3-sklearn
"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    PACKAGES="$PACKAGES nodejs npm"
fi
install_ort() {
    sh "$(dirname "$0")/install-ort.sh"
}

missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    install_ort
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1 || [ ! -r /etc/debian_version ]; then
    echo "install-deps: this is not a Debian or Ubuntu system; install these by hand:" >&2
    echo "  $missing" >&2
    exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install-deps: missing packages and not root; run as root or install by hand:" >&2
        echo "  apt-get install$missing" >&2
        exit 1
    fi
else
    SUDO=""
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# The :arm64 packages need the arm64 architecture in dpkg, and a package index that
# lists them.
case "$missing" in
*:arm64*)
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        $SUDO dpkg --add-architecture arm64
        $SUDO apt-get update -q >/tmp/tessera-install-deps.log 2>&1 || true
    fi
    ;;
esac
# A stale package index is the usual reason for "Unable to locate package".
if ! $SUDO apt-get install -y -q --no-install-recommends $missing >/tmp/tessera-install-deps.log 2>&1; then
    $SUDO apt-get update -q >>/tmp/tessera-install-deps.log 2>&1 || true
    if ! $SUDO apt-get install -y -q --no-install-recommends $missing >>/tmp/tessera-install-deps.log 2>&1; then
        echo "install-deps: apt-get failed; see /tmp/tessera-install-deps.log" >&2
        tail -n 20 /tmp/tessera-install-deps.log >&2
        exit 1
    fi
fi
install_ort
