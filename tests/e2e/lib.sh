# tests/e2e/lib.sh — shared helpers for the end-to-end tests (source it from bash).
#
#   e2e_init                      temp dir in $T, cleanup trap, counters
#   free_port                     prints a free TCP port on 127.0.0.1
#   wait_port PORT [SECS]         waits until 127.0.0.1:PORT accepts connections
#   start_bg NAME CMD...          starts CMD in the background, log in $T/NAME.log
#   stop_bg NAME                  SIGTERM (then SIGKILL after 5 s); sets STOP_RC
#   alive NAME                    true while NAME's process runs
#   pid_of NAME                   prints the pid of NAME's process (for kill -HUP ...)
#   run_logged NAME SECS CMD...   runs CMD with a timeout, output in $T/NAME.log
#   listens NAME MSG              passes MSG once 127.0.0.1:$PORT accepts (15 s); else
#                                 fails with $T/NAME.log (the server's) and stops here
#   wait_log NAME ERE SECS        waits until a line of $T/NAME.log matches ERE
#   healthz                       HTTP code of GET $URL/healthz, body in $T/healthz.body
#   serial_of CERT                CERT's serial number in hex, as openssl prints it
#   make_stranger DIR NAME SERIAL a certificate of DIR's CA that its index.txt never lists
#   pass MSG / fail MSG [TEXT]    one PASS/FAIL line; TEXT (failing output) indented
#   expect MSG TEXT PATTERN...    PASS if every +ERE matches TEXT and no -ERE does
#   finish                        prints "N passed, M failed"; exits 1 if M > 0 or N = 0
#                                 (and fails if a responder log names another backend
#                                 than REVOKD_E2E_BACKEND asked for)
#
# REVOKD_E2E_BACKEND (auto | io_uring | libev; ctest runs each test once with auto
# and once with libev) is in $E2E_BACKEND: every responder config the tests write
# sets `backend = $E2E_BACKEND` (mkpki.sh --backend "$E2E_BACKEND").
#
# Every wait has a timeout; every process started with start_bg is stopped by
# the EXIT trap, also when the test dies half-way.

# shellcheck disable=SC2034 # STOP_RC and T are for the sourcing test
E2E_PASS=0
E2E_FAIL=0
E2E_NAMES=()
E2E_PIDS=()
E2E_BACKEND=${REVOKD_E2E_BACKEND:-auto}
PY=/usr/bin/python3 # Debian's python3, which has python3-cryptography
# Every test sets BUILD and SRC (from REVOKD_BUILD, REVOKD_SRC) before sourcing this,
# and their headers say REVOKD_BUILD=build; the programs run with `env -C /`, so a
# relative directory must become absolute here.
[ -d "${BUILD:-}" ] && BUILD=$(cd "$BUILD" && pwd)
[ -d "${SRC:-}" ] && SRC=$(cd "$SRC" && pwd)
export OPENSSL_CONF=/dev/null

e2e_init() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/revokd-e2e.XXXXXX")
    export T
    trap e2e_cleanup EXIT
    trap 'echo "e2e: interrupted" >&2; exit 130' INT TERM
}

e2e_cleanup() {
    local rc=$? i
    for i in "${!E2E_PIDS[@]}"; do
        [ -n "${E2E_PIDS[$i]}" ] || continue
        _stop_pid "${E2E_PIDS[$i]}"
        E2E_PIDS[i]=
    done
    if [ -n "${T:-}" ] && [ -d "$T" ]; then
        if [ -n "${E2E_KEEP:-}" ] || [ "$E2E_FAIL" -gt 0 ] || [ "$rc" -ne 0 ]; then
            echo "e2e: kept $T for inspection" >&2
        else
            rm -rf "$T"
        fi
    fi
}

# need_programs P...: every program the scenario runs must be there, or it stops here.
need_programs() {
    local p missing=0
    for p in "$@"; do
        if [ -x "$p" ]; then
            pass "program exists: $p"
        else
            fail "program missing: $p (docker/install-deps.sh installs it, or build first)"
            missing=1
        fi
    done
    [ "$missing" -eq 0 ] || finish
}

# make_pki DIR NAME WHAT [mkpki options...]: a demo PKI (scripts/mkpki.sh) for this
# scenario's port ($PORT) and backend; passes "mkpki.sh made WHAT", or stops here.
make_pki() {
    local dir=$1 name=$2 what=$3 log
    shift 3
    log=$T/mkpki-$(basename "$dir").log
    if "$SRC/scripts/mkpki.sh" "$dir" --name "$name" --port "$PORT" --backend "$E2E_BACKEND" "$@" \
        >"$log" 2>&1; then
        pass "mkpki.sh made $what"
    else
        fail "mkpki.sh" "$(cat "$log")"
        finish
    fi
}

free_port() {
    "$PY" -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

wait_port() {
    local port=$1 secs=${2:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        if "$PY" -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5)
s.close()' "$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

start_bg() {
    local name=$1
    shift
    "$@" >"$T/$name.log" 2>&1 &
    E2E_NAMES+=("$name")
    E2E_PIDS+=("$!")
}

_pid_of() {
    local i
    for i in "${!E2E_NAMES[@]}"; do
        if [ "${E2E_NAMES[$i]}" = "$1" ] && [ -n "${E2E_PIDS[$i]}" ]; then
            echo "$i ${E2E_PIDS[$i]}"
            return 0
        fi
    done
    return 1
}

# Stops one pid: SIGTERM, up to 5 s, then SIGKILL. Sets STOP_RC to its exit status.
_stop_pid() {
    local pid=$1 i
    STOP_RC=
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "e2e: pid $pid ignored SIGTERM for 5 s, killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null
    STOP_RC=$?
}

alive() {
    local r
    r=$(_pid_of "$1") || return 1
    kill -0 "${r#* }" 2>/dev/null
}

pid_of() {
    local r
    r=$(_pid_of "$1") || return 1
    echo "${r#* }"
}

stop_bg() {
    local r
    STOP_RC=
    r=$(_pid_of "$1") || return 0
    _stop_pid "${r#* }"
    E2E_PIDS[${r%% *}]=
}

run_logged() {
    local name=$1 secs=$2
    shift 2
    timeout -k 5 "$secs" "$@" >"$T/$name.log" 2>&1
}

listens() {
    if wait_port "$PORT" 15; then
        pass "$2"
    else
        fail "$2: not within 15 s" "$(cat "$T/$1.log")"
        finish
    fi
}

wait_log() {
    local i
    for ((i = 0; i < $3 * 20; i++)); do
        grep -Eq -- "$2" "$T/$1.log" && return 0
        sleep 0.05
    done
    return 1
}

healthz() { curl -s --max-time 5 -o "$T/healthz.body" -w '%{http_code}' "$URL/healthz"; }

serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'; }

# make_stranger DIR NAME SERIAL: DIR/stranger.pem, a real certificate of the CA in
# DIR with serial SERIAL (hex) that its index.txt does not list: signed with the
# CA key directly, not through `openssl ca`, so only live signing can answer it.
# Passes, or stops here.
make_stranger() {
    local dir=$1 name=$2 serial=$3
    if openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/stranger.key" \
        -subj "/O=revokd test/CN=stranger.$name.revokd.test" -out "$dir/stranger.csr" >"$T/stranger.log" 2>&1 &&
        openssl x509 -req -in "$dir/stranger.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -days 30 \
            -set_serial "0x$serial" -out "$dir/stranger.pem" >>"$T/stranger.log" 2>&1 &&
        ! grep -qi "$serial" "$dir/index.txt"; then
        pass "stranger.pem: a real certificate of the CA that index.txt does not list"
    else
        fail "make stranger.pem" "$(cat "$T/stranger.log")"
        finish
    fi
}

pass() {
    E2E_PASS=$((E2E_PASS + 1))
    echo "PASS: $1"
}

fail() {
    E2E_FAIL=$((E2E_FAIL + 1))
    echo "FAIL: $1"
    if [ $# -ge 2 ] && [ -n "$2" ]; then
        printf '%s\n' "$2" | head -n 60 | sed 's/^/    | /'
    fi
}

# expect MSG TEXT [+ERE|-ERE]...: every +ERE must match a line of TEXT, no -ERE may.
expect() {
    local msg=$1 text=$2 p why=
    shift 2
    for p in "$@"; do
        case "$p" in
        +*) printf '%s\n' "$text" | grep -Eq -- "${p#+}" || why="$why missing /${p#+}/;" ;;
        -*) printf '%s\n' "$text" | grep -Eq -- "${p#-}" && why="$why unexpected /${p#-}/;" ;;
        *) echo "expect: pattern must start with + or -: $p" >&2; return 2 ;;
        esac
    done
    if [ -z "$why" ]; then
        pass "$msg"
    else
        fail "$msg:$why" "$text"
    fi
}

# The backend each responder started here says it runs ("backend NAME, ..." at start).
_check_backends() {
    local ran
    ran=$(cat "$T"/*.log 2>/dev/null | sed -n 's/.*revokd-responder info: backend \([a-z_]*\), .*/\1/p' | sort -u)
    [ -n "$ran" ] || return 0
    echo "e2e: responder backend(s) that ran: $(echo $ran)"
    if [ "$E2E_BACKEND" != auto ] && [ "$ran" != "$E2E_BACKEND" ]; then
        fail "every responder ran backend $E2E_BACKEND" "$ran"
    fi
}

finish() {
    [ -z "${T:-}" ] || _check_backends
    echo "$E2E_PASS passed, $E2E_FAIL failed"
    if [ "$E2E_FAIL" -gt 0 ] || [ "$E2E_PASS" -eq 0 ]; then
        exit 1
    fi
    exit 0
}
