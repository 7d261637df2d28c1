#!/bin/sh
# nginx-static.sh — starts and stops the nginx static-file baseline of the
# benchmarks (bench/nginx.conf.in) in a scratch directory, as any user.
#
#   bench/nginx-static.sh start DIR PORT CPU FILE...   serve FILEs at /<basename>
#   bench/nginx-static.sh stop DIR
#
# DIR is created if absent and holds the config, pid, logs and document root
# (DIR/root). The worker is pinned to CPU. Stop signals only the master whose
# pid is in DIR/nginx.pid.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)

usage() {
    echo "usage: $0 start DIR PORT CPU FILE... | stop DIR" >&2
    exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
DIR=$2
case "$cmd" in
start)
    [ $# -ge 5 ] || usage
    PORT=$3
    CPU=$4
    shift 4
    printf '%s' "$PORT" | grep -Eq '^[0-9]{1,5}$' || { echo "nginx-static: bad port $PORT" >&2; exit 2; }
    printf '%s' "$CPU" | grep -Eq '^[0-9]{1,3}$' || { echo "nginx-static: bad cpu $CPU" >&2; exit 2; }
    mkdir -p "$DIR/root" "$DIR/tmp"
    DIR=$(cd "$DIR" && pwd)
    for f in "$@"; do
        cp "$f" "$DIR/root/"
    done
    chmod 755 "$DIR" "$DIR/root"
    chmod 644 "$DIR"/root/*
    # worker_cpu_affinity mask: a 1 followed by CPU zeros
    MASK=1
    i=0
    while [ "$i" -lt "$CPU" ]; do MASK=${MASK}0; i=$((i + 1)); done
    sed -e "s|@DIR@|$DIR|g" -e "s|@ROOT@|$DIR/root|g" -e "s|@PORT@|$PORT|g" \
        -e "s|@CPUMASK@|$MASK|g" "$HERE/nginx.conf.in" >"$DIR/nginx.conf"
    if [ -s "$DIR/nginx.pid" ] && kill -0 "$(cat "$DIR/nginx.pid")" 2>/dev/null; then
        echo "nginx-static: already running in $DIR (pid $(cat "$DIR/nginx.pid"))" >&2
        exit 1
    fi
    nginx -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/error.log"
    # wait for the port
    i=0
    while ! curl -s -o /dev/null "http://127.0.0.1:$PORT/"; do
        i=$((i + 1))
        [ "$i" -lt 50 ] || { echo "nginx-static: not listening on $PORT" >&2; cat "$DIR/error.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "nginx-static: pid $(cat "$DIR/nginx.pid") serving $DIR/root on 127.0.0.1:$PORT, worker on CPU $CPU"
    ;;
stop)
    if [ -s "$DIR/nginx.pid" ]; then
        pid=$(cat "$DIR/nginx.pid")
        kill -QUIT "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        echo "nginx-static: stopped $pid"
    fi
    ;;
*) usage ;;
esac
