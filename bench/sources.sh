#!/usr/bin/env bash
# bench/sources.sh [N...] — CPU time of the cert_dir and CertMate readers over N
# generated certificates (default 1000 10000), cold and from the file cache.
# One command; needs a top-level build (srcread): cmake --build build --target srcread
#   BUILD=build bench/sources.sh 1000 10000 100000
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$HERE/../build}
BIN=$BUILD/bench/srcread
[ -x "$BIN" ] || { echo "sources.sh: build $BIN first (cmake --build $BUILD --target srcread)" >&2; exit 1; }
[ $# -gt 0 ] || set -- 1000 10000
W=$(mktemp -d "${TMPDIR:-/tmp}/revokd-bench-src.XXXXXX")
trap 'rm -rf "$W"' EXIT
for n in "$@"; do
    echo "== $n certificates"
    /usr/bin/python3 "$HERE/gen-certs.py" "$n" "$W/$n"
    "$BIN" certdir "$W/$n/ca.pem" "$W/$n/certdir"
    "$BIN" certmate "$W/$n/ca.pem" "$W/$n/certmate"
    rm -rf "${W:?}/$n"
done
