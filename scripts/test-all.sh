#!/usr/bin/env bash
# test-all.sh — everything CI runs, from the repo root; stops at the first failure.
#
#   1. release build (RelWithDebInfo) in build/ and its ctest (unit + e2e)
#   2. ASan+UBSan build in build-asan/ and its ctest
#   3. if clang exists: libFuzzer build in build-fuzz/, each fuzz_* for FUZZ_SECONDS
#      (default 30) over a temp copy of tests/fuzz/corpus/<name>/
#   4. clang-format --dry-run --Werror on every .c/.h of the source folders
#
# Env: FUZZ_SECONDS (30), JOBS (2).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

STEPS=()
CURRENT=
START=$(date +%s)
PASSED=0
FAILED=0

summary() {
    local rc=$? s
    echo
    echo "=== test-all summary ($(($(date +%s) - START)) s) ==="
    for s in "${STEPS[@]}"; do echo "  ok      $s"; done
    if [ "$rc" -ne 0 ] && [ -n "$CURRENT" ]; then
        echo "  FAILED  $CURRENT (exit $rc)"
        echo "test-all: FAILED"
    elif [ "$rc" -ne 0 ]; then
        echo "test-all: FAILED (exit $rc)"
    else
        echo "test-all: all steps passed"
    fi
    # Plain closing line summed over every ctest run, for CI.
    echo "tests: $PASSED passed, $FAILED failed"
}
trap summary EXIT

step() { # step NAME CMD...: runs CMD, records NAME as passed; set -e stops on failure
    CURRENT=$1
    shift
    echo
    echo "=== $CURRENT ==="
    "$@"
    STEPS+=("$CURRENT")
    CURRENT=
}

run_ctest() { # run_ctest DIR: ctest, adding its totals to PASSED/FAILED
    local log rc=0 total failed
    log=$(mktemp)
    ctest --test-dir "$1" --output-on-failure 2>&1 | tee "$log" || rc=$?
    if read -r failed total < <(sed -nE 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1 \2/p' "$log" | tail -n 1); then
        PASSED=$((PASSED + total - failed))
        FAILED=$((FAILED + failed))
    fi
    rm -f "$log"
    return "$rc"
}

# --- 1. release build + tests ---------------------------------------------------------
step "configure build (RelWithDebInfo)" cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
step "build" cmake --build build -j"$JOBS"
step "ctest build" run_ctest build

# --- 2. sanitizers ------------------------------------------------------------------
step "configure build-asan (ASan+UBSan)" \
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREVOKD_SANITIZE=ON
step "build-asan" cmake --build build-asan -j"$JOBS"
step "ctest build-asan" run_ctest build-asan

# --- 3. fuzzing -----------------------------------------------------------------------
run_fuzzers() { # one run per tests/fuzz/fuzz_*.c; a target that was not built is a failure
    local src name bin corpus work n=0
    work=$(mktemp -d "${TMPDIR:-/tmp}/revokd-fuzz.XXXXXX")
    mkdir -p build-fuzz/artifacts
    for src in tests/fuzz/fuzz_*.c; do
        [ -f "$src" ] || continue
        name=$(basename "$src" .c)
        bin=build-fuzz/tests/fuzz/$name
        if [ ! -x "$bin" ]; then
            echo "$name: $bin was not built"
            rm -rf "$work"
            return 1
        fi
        corpus=$work/${name#fuzz_}
        mkdir -p "$corpus"
        if [ -d "tests/fuzz/corpus/${name#fuzz_}" ]; then
            cp -R "tests/fuzz/corpus/${name#fuzz_}/." "$corpus/"
        fi
        echo "--- $name: ${FUZZ_SECONDS}s over $(find "$corpus" -type f | wc -l) seed(s)"
        if ! "$bin" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
            -artifact_prefix="$ROOT/build-fuzz/artifacts/$name-" "$corpus" \
            >"build-fuzz/$name.log" 2>&1; then
            tail -n 60 "build-fuzz/$name.log"
            echo "$name FAILED; crashing input in build-fuzz/artifacts/, log build-fuzz/$name.log"
            rm -rf "$work"
            return 1
        fi
        grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' \
            "build-fuzz/$name.log" || true
        n=$((n + 1))
    done
    rm -rf "$work"
    echo "$n fuzz target(s) ran clean"
}
if command -v clang >/dev/null 2>&1; then
    step "configure build-fuzz (clang, libFuzzer)" \
        env CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREVOKD_FUZZ=ON \
        -DREVOKD_TESTS=OFF
    step "build-fuzz" cmake --build build-fuzz -j"$JOBS"
    step "fuzz (${FUZZ_SECONDS}s per target)" run_fuzzers
else
    echo
    echo "=== fuzzing skipped: clang not found ==="
fi

# --- 4. formatting -----------------------------------------------------------------
format_check() {
    local files=()
    mapfile -t files < <(find common indexer responder crlgen tests bench \
        -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort)
    if [ "${#files[@]}" -eq 0 ]; then
        echo "no C files found"
        return 0
    fi
    echo "${#files[@]} files"
    clang-format --dry-run --Werror "${files[@]}"
}
if command -v clang-format >/dev/null 2>&1; then
    step "clang-format --dry-run --Werror" format_check
else
    CURRENT="clang-format (not installed)"
    false
fi
