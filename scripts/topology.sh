#!/usr/bin/env bash
# topology.sh — the deployment users run, on loopback, in one command:
#
#   clients ──> Varnish (:PORT, the URL in every certificate's AIA/CDP)
#                  └─> HAProxy (health checks GET /healthz, retries, redispatch)
#                         ├─> revokd-responder replica 1 ┐
#                         └─> revokd-responder replica N ┴─ one LMDB store, read-only
#               revokd-indexer (the single writer) and revokd-crlgen share the store;
#               a demo CA (scripts/mkpki.sh + scripts/mkmesh.sh) issues and revokes.
#
#   scripts/topology.sh up   DIR [--port PORT] [--replicas N] [--max-age DUR]
#                                [--backend auto|io_uring|libev] [--build BUILD] [--no-retry]
#   scripts/topology.sh down DIR                 stops everything started by up
#   scripts/topology.sh replica DIR I            (re)starts replica I (after a kill)
#   scripts/topology.sh run  DIR [options]       up, wait for Ctrl-C, down
#
# DIR/pki is the PKI (made on the first up, reused after), DIR/topology.env the ports
# and paths (sourced by tests/e2e/test_topology.sh), DIR/run/*.pid the processes,
# DIR/log/*.log their output. PORT (default 8080) is Varnish's, and so the URL the
# certificates name; HAProxy and the replicas get free loopback ports. --max-age
# ([responder] max_age, default 1h) is how long Varnish may serve an answer: the
# delay before a revocation is visible through the cache (docs/operations-guide.md).
# --no-retry turns HAProxy's retries and redispatch off (bench/failover.sh compares).
# Needs haproxy and varnish (docker/install-deps.sh installs both).
set -eu

usage() {
    sed -n '11,15p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
[ $# -ge 2 ] || usage
CMD=$1
DIR=$2
shift 2
PORT=8080
REPLICAS=2
MAX_AGE=1h
BACKEND=auto
BUILD=${REVOKD_BUILD:-$SRC/build}
RETRY=yes
IDX_ARG=
case "$CMD" in
replica) [ $# -ge 1 ] || usage; IDX_ARG=$1; shift ;;
esac
while [ $# -gt 0 ]; do
    case "$1" in
    --port) [ $# -ge 2 ] || usage; PORT=$2; shift 2 ;;
    --replicas) [ $# -ge 2 ] || usage; REPLICAS=$2; shift 2 ;;
    --max-age) [ $# -ge 2 ] || usage; MAX_AGE=$2; shift 2 ;;
    --backend) [ $# -ge 2 ] || usage; BACKEND=$2; shift 2 ;;
    --build) [ $# -ge 2 ] || usage; BUILD=$2; shift 2 ;;
    --no-retry) RETRY=no; shift ;;
    *) echo "topology: unknown argument $1" >&2; usage ;;
    esac
done
HAPROXY=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
VARNISHD=${VARNISHD:-$(command -v varnishd || echo /usr/sbin/varnishd)}
PY=/usr/bin/python3
export OPENSSL_CONF=/dev/null

free_port() {
    "$PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_port() { # wait_port PORT SECS
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        "$PY" -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5).close()' "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# start NAME CMD...: CMD in its own session (so a Ctrl-C of the caller does not hit it),
# pid in run/NAME.pid, output in log/NAME.log.
start() {
    local name=$1
    shift
    setsid "$@" >>"$DIR/log/$name.log" 2>&1 </dev/null &
    echo $! >"$DIR/run/$name.pid"
}

stop() { # stop NAME: SIGTERM, 10 s, SIGKILL
    local f=$DIR/run/$1.pid pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -TERM "$pid" 2>/dev/null; then
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

# conf_set FILE SECTION KEY VALUE: sets KEY in [SECTION] (adds the section if absent).
conf_set() {
    local tmp=$1.tmp
    awk -v s="[$2]" -v k="$3" -v v="$4" '
        BEGIN { done = 0 }
        $0 == s { print; print k " = " v; ins = 1; done = 1; next }
        ins && $0 ~ "^" k " *=" { next }
        /^\[/ { ins = 0 }
        { print }
        END { if (!done) { print ""; print s; print k " = " v } }' "$1" >"$tmp"
    mv "$tmp" "$1"
}

replica_conf() { echo "$DIR/pki/replica-$1.conf"; }

start_replica() { # start_replica I
    local i=$1 port
    port=$(sed -n "s/^REPLICA_${i}_PORT=//p" "$DIR/topology.env")
    [ -n "$port" ] || { echo "topology: no replica $i in $DIR/topology.env" >&2; exit 1; }
    stop "responder-$i"
    start "responder-$i" "$BUILD/revokd-responder" -c "$(replica_conf "$i")"
    wait_port "$port" 15 || { echo "topology: replica $i did not listen on $port" >&2; tail "$DIR/log/responder-$i.log" >&2; exit 1; }
}

up() {
    local p i vport hport servers=
    for p in revokd-indexer revokd-responder revokd-crlgen revokctl; do
        [ -x "$BUILD/$p" ] || { echo "topology: $BUILD/$p missing; build first" >&2; exit 1; }
    done
    for p in "$HAPROXY" "$VARNISHD"; do
        [ -x "$p" ] || { echo "topology: $p missing (apt-get install haproxy varnish)" >&2; exit 1; }
    done
    BUILD=$(cd "$BUILD" && pwd)
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    mkdir -p "$DIR/run" "$DIR/log" "$DIR/varnish"
    if [ ! -f "$DIR/pki/revokd.conf" ]; then
        "$SRC/scripts/mkpki.sh" "$DIR/pki" --name demo --port "$PORT" --backend "$BACKEND" >/dev/null
        "$SRC/scripts/mkmesh.sh" "$DIR/pki" >/dev/null
    fi
    vport=$(sed -n 's/^listen *= *127\.0\.0\.1:\([0-9]*\)$/\1/p' "$DIR/pki/revokd.conf")
    conf_set "$DIR/pki/revokd.conf" responder max_age "$MAX_AGE"
    conf_set "$DIR/pki/revokd.conf" responder backend "$BACKEND"
    conf_set "$DIR/pki/revokd.conf" crlgen interval 1m
    hport=$(free_port)
    sport=$(free_port)
    {
        echo "# written by scripts/topology.sh up"
        echo "DIR=$DIR"
        echo "PKI=$DIR/pki"
        echo "BUILD=$BUILD"
        echo "VARNISH_PORT=$vport"
        echo "HAPROXY_PORT=$hport"
        echo "HAPROXY_SOCK=$DIR/run/haproxy.sock"
        echo "HAPROXY_STATS_PORT=$sport"
        echo "REPLICAS=$REPLICAS"
        echo "MAX_AGE=$MAX_AGE"
    } >"$DIR/topology.env"
    for ((i = 1; i <= REPLICAS; i++)); do
        p=$(free_port)
        echo "REPLICA_${i}_PORT=$p" >>"$DIR/topology.env"
        sed "s/^listen *=.*/listen = 127.0.0.1:$p/" "$DIR/pki/revokd.conf" >"$(replica_conf "$i")"
        servers="$servers    server r$i 127.0.0.1:$p\n"
    done

    # The indexer first: the replicas must find a synced store (or /healthz says 503).
    "$BUILD/revokd-indexer" -c "$DIR/pki/revokd.conf" --once >>"$DIR/log/indexer.log" 2>&1
    "$BUILD/revokd-crlgen" -c "$DIR/pki/revokd.conf" --once >>"$DIR/log/crlgen.log" 2>&1
    start indexer "$BUILD/revokd-indexer" -c "$DIR/pki/revokd.conf"
    start crlgen "$BUILD/revokd-crlgen" -c "$DIR/pki/revokd.conf"
    for ((i = 1; i <= REPLICAS; i++)); do start_replica "$i"; done

    sed -e "s|@HAPROXY_PORT@|$hport|" -e "s|@STATS_PORT@|$sport|" -e "s|@RUN@|$DIR/run|" -e "s|^@SERVERS@$|$servers|" \
        "$SRC/conf/haproxy/revokd-lb.cfg" >"$DIR/haproxy.cfg"
    if [ "$RETRY" = no ]; then
        sed -i -e 's/^    retries 3$/    retries 0/' -e '/^    option redispatch/d' -e '/^    retry-on /d' "$DIR/haproxy.cfg"
    fi
    "$HAPROXY" -c -q -f "$DIR/haproxy.cfg"
    start haproxy "$HAPROXY" -db -f "$DIR/haproxy.cfg"
    wait_port "$hport" 15 || { echo "topology: haproxy did not start" >&2; tail "$DIR/log/haproxy.log" >&2; exit 1; }

    sed "s|@BACKEND_PORT@|$hport|" "$SRC/conf/varnish/revokd.vcl" >"$DIR/varnish.vcl"
    # -j none: run as the calling user, in DIR (the packaged service uses its own jail).
    start varnish "$VARNISHD" -F -j none -n "$DIR/varnish" -a "127.0.0.1:$vport" \
        -f "$DIR/varnish.vcl" -s malloc,64m -T none
    wait_port "$vport" 30 || { echo "topology: varnishd did not start" >&2; tail "$DIR/log/varnish.log" >&2; exit 1; }

    cat <<EOT
topology up in $DIR:
  Varnish   http://127.0.0.1:$vport   (the AIA/CDP URL of every certificate)
  HAProxy   http://127.0.0.1:$hport   (runtime API: $DIR/run/haproxy.sock, metrics :$sport/metrics)
  replicas  $(sed -n 's/^REPLICA_\([0-9]*\)_PORT=\(.*\)/r\1 :\2/p' "$DIR/topology.env" | tr '\n' ' ')
  max-age   $MAX_AGE (a revocation is visible through Varnish within this)
try:
  openssl ocsp -issuer $DIR/pki/ca.pem -cert $DIR/pki/mesh/partner.pem -url http://127.0.0.1:$vport -CAfile $DIR/pki/chain.pem
  $BUILD/revokctl -c $DIR/pki/revokd.conf revoke --issuer demo --serial \$(openssl x509 -in $DIR/pki/mesh/partner.pem -noout -serial | cut -d= -f2) --reason keyCompromise
stop: $0 down $DIR
EOT
}

down() {
    local n
    [ -d "$DIR/run" ] || return 0
    for n in varnish haproxy "$DIR"/run/responder-*.pid crlgen indexer; do
        n=$(basename "$n" .pid)
        stop "$n"
    done
}

case "$CMD" in
up) up ;;
down) down ;;
replica)
    DIR=$(cd "$DIR" && pwd)
    BUILD=$(sed -n 's/^BUILD=//p' "$DIR/topology.env")
    start_replica "$IDX_ARG"
    ;;
run)
    up
    trap 'down; exit 0' INT TERM
    echo "topology: running; Ctrl-C stops everything"
    while :; do sleep 3600 & wait $!; done
    ;;
*) usage ;;
esac
