#!/usr/bin/env bash
# End-to-end: the HTTP semantics issue 7 asks for (items 4 and 7), against the
# real responder, checked with clients a user has: curl (its own --etag-compare
# and -z conditional requests), openssl ocsp, and raw sockets from python for
# what no client sends on purpose.
#   - POST with a Content-Type other than application/ocsp-request (curl's
#     default form type, none, JSON) -> 415; openssl ocsp and GnuTLS ocsptool
#     (which send the right type) are answered;
#   - every route refuses other methods with 405 and its Allow list;
#   - a header block over the limit -> 431 and the connection closes;
#   - conditional GET of an OCSP response and a CRL -> 304 with the caching
#     headers and no body (If-None-Match, If-Modified-Since, precedence);
#   - HTTP/1.0, 1.0 keep-alive, 1.1 keep-alive, pipelining, Connection: close;
#   - GET /api/v1/status/ISSUER/SERIAL: JSON (json.loads) that says what
#     `openssl ocsp` says for the same certificate; 404/400; HEAD; and 404 once
#     `status_api = no`.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_http_semantics.sh   (ctest sets both)
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=sem
SERIAL=8A1F00000000000000000000000000A0 # high bit set: the INTEGER content starts 00 8A
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
CRLGEN=$BUILD/revokd-crlgen
need_programs "$IDX" "$RSP" "$CRLGEN"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
A=$T/pki
if "$SRC/scripts/mkpki.sh" "$A" --name "$NAME" --backend "$E2E_BACKEND" --serial-start "$SERIAL" --port "$PORT" \
    >"$T/mkpki.log" 2>&1; then
    pass "mkpki.sh made a PKI"
else
    fail "mkpki.sh" "$(cat "$T/mkpki.log")"
    finish
fi

write_conf() { # FILE STATUS_API
    cat >"$1" <<EOC
[store]
path = store

[log]
level = info

[responder]
listen = 127.0.0.1:$PORT
backend = $E2E_BACKEND
status_api = $2

[crlgen]
out_dir = crl

[issuer $NAME]
ca_cert     = pki/ca.pem
index       = pki/index.txt
signer_cert = pki/ocsp.pem
signer_key  = pki/ocsp.key
crl_key     = pki/ca.key
crlnumber   = pki/crlnumber
digest      = sha256
EOC
}
CONF=$T/revokd.conf
write_conf "$CONF" yes

if run_logged indexer 120 "$IDX" -c "$CONF" --once; then
    pass "revokd-indexer --once"
else
    fail "revokd-indexer --once" "$(tail -n 20 "$T/indexer.log")"
    finish
fi
if run_logged crlgen 120 "$CRLGEN" -c "$CONF" --once; then
    pass "revokd-crlgen --once"
else
    fail "revokd-crlgen --once" "$(tail -n 20 "$T/crlgen.log")"
    finish
fi
start_bg responder "$RSP" -c "$CONF"
listens responder "revokd-responder listens on $URL"

# code URL [curl args...]: prints the HTTP status curl saw
code() {
    local u=$1
    shift
    curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$@" "$u"
}

# --- 415 ------------------------------------------------------------------------------
openssl ocsp -issuer "$A/ca.pem" -cert "$A/good.pem" -no_nonce -reqout "$T/good.req" >/dev/null 2>&1
openssl ocsp -issuer "$A/ca.pem" -cert "$A/revoked.pem" -no_nonce -reqout "$T/revoked.req" \
    >/dev/null 2>&1
c=$(code "$URL/" --data-binary @"$T/good.req")
h=$(curl -s --max-time 10 -D - -o /dev/null --data-binary @"$T/good.req" "$URL/")
expect "curl --data-binary without -H (application/x-www-form-urlencoded) -> 415, Accept-Post" \
    "$c
$h" '+^415$' '+^Accept-Post: application/ocsp-request' '-^Connection: close'
expect "POST Content-Type: application/json -> 415" \
    "$(code "$URL/" -H 'Content-Type: application/json' --data-binary @"$T/good.req")" '+^415$'
expect "POST without any Content-Type -> 415" \
    "$(code "$URL/" -H 'Content-Type:' --data-binary @"$T/good.req")" '+^415$'
expect "POST Content-Type: Application/OCSP-Request; x=y (case, parameters) -> 200" \
    "$(code "$URL/" -H 'Content-Type: Application/OCSP-Request; x=y' --data-binary @"$T/good.req")" \
    '+^200$'
out=$(timeout 20 openssl ocsp -issuer "$A/ca.pem" -cert "$A/good.pem" -url "$URL/" \
    -CAfile "$A/chain.pem" -no_nonce 2>&1)
expect "openssl ocsp (sends application/ocsp-request) -> good" "$out" \
    "+good.pem: good" '+Response verify OK'
if command -v ocsptool >/dev/null; then
    out=$(timeout -k 5 30 ocsptool --ask="$URL/" --no-nonce --load-issuer "$A/ca.pem" \
        --load-cert "$A/good.pem" 2>&1)
    expect "GnuTLS ocsptool --ask (sends application/ocsp-request) -> good" "$out" \
        '+Certificate Status: good' '-Failure'
else
    fail "ocsptool is not installed (docker/install-deps.sh installs gnutls-bin)"
fi

# --- 405 on every route ---------------------------------------------------------------
B64=$(base64 -w0 <"$T/good.req")
ENC=$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$B64")
SERIAL_GOOD=$(serial_of "$A/good.pem")
SERIAL_REV=$(serial_of "$A/revoked.pem")
for route in "/|GET, HEAD, POST" "/$ENC|GET, HEAD, POST" "/healthz|GET, HEAD" "/metrics|GET, HEAD" \
    "/crl/$NAME.crl|GET, HEAD" "/api/v1/status/$NAME/$SERIAL_GOOD|GET, HEAD"; do
    path=${route%%|*}
    allow=${route#*|}
    bad=
    for m in PUT DELETE PATCH OPTIONS; do
        h=$(curl -s --max-time 10 -D - -o /dev/null -X "$m" "$URL$path" | tr -d '\r')
        printf '%s\n' "$h" | grep -q '^HTTP/1.1 405 ' || bad="$bad $m:status"
        printf '%s\n' "$h" | grep -qx "Allow: $allow" || bad="$bad $m:allow"
    done
    if [ "$allow" = "GET, HEAD" ]; then
        c=$(code "$URL$path" -H 'Content-Type: application/ocsp-request' --data-binary @"$T/good.req")
        [ "$c" = 405 ] || bad="$bad POST:$c"
    fi
    if [ -z "$bad" ]; then
        pass "405 with Allow: $allow for PUT/DELETE/PATCH/OPTIONS on ${path:0:40}"
    else
        fail "405 with Allow: $allow on ${path:0:40}:$bad"
    fi
done

# --- raw-socket checks: 431, connection semantics ------------------------------------
"$PY" - "$PORT" "$ENC" >"$T/raw.out" 2>&1 <<'EOF'
import socket, sys
port, enc = int(sys.argv[1]), sys.argv[2]

def out(ok, msg, detail=b""):
    print(("ok " if ok else "bad ") + msg + ("" if ok else " | %r" % (detail[:300],)))

def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s

def read_resp(s, buf=b"", is_head=False):
    """One response (Content-Length framing, none for 304/HEAD); returns (status, headers, body, rest)."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            return None, {}, b"", buf
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin1").split("\r\n")
    st = int(lines[0].split()[1])
    hd = {}
    for ln in lines[1:]:
        k, v = ln.split(":", 1)
        hd[k.strip().lower()] = v.strip()
    n = int(hd.get("content-length", "0")) if st != 304 and not is_head else 0
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            break
        rest += d
    return st, hd, rest[:n], rest[n:]

def closed(s, rest=b""):
    """True if the server closes after what it sent (no more bytes, EOF)."""
    if rest:
        return False
    s.settimeout(5)
    try:
        return s.recv(1) == b""
    except (socket.timeout, ConnectionResetError):
        return False

# 431: more header fields than the limit, and a header block over 8 KiB
for what, req in (("65 header fields", b"GET /healthz HTTP/1.1\r\nHost: a\r\n" +
                   b"".join(b"X-F%d: v\r\n" % i for i in range(65)) + b"\r\n"),
                  ("a 9000-byte header field", b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " +
                   b"v" * 9000 + b"\r\n\r\n")):
    s = conn()
    s.sendall(req)
    st, hd, body, rest = read_resp(s)
    out(st == 431 and hd.get("connection") == "close" and closed(s, rest),
        "%s -> 431 Request Header Fields Too Large, then close" % what, repr((st, hd)).encode())
    s.close()
# just under the limits is fine
s = conn()
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-F%d: v\r\n" % i for i in range(63)) +
          b"\r\n")
st, hd, body, rest = read_resp(s)
out(st == 200, "64 header fields -> 200", repr((st, hd)).encode())
s.close()

# HTTP/1.0 without keep-alive: answered, Connection: close, closed
s = conn()
s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
st, hd, body, rest = read_resp(s)
out(st == 200 and hd.get("connection") == "close" and closed(s, rest),
    "HTTP/1.0: 200, Connection: close, then the server closes", repr((st, hd)).encode())
s.close()
# HTTP/1.0 with keep-alive: stays open for a second request
s = conn()
ok = True
for i in range(3):
    s.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    st, hd, body, rest = read_resp(s)
    ok = ok and st == 200 and hd.get("connection", "").lower() == "keep-alive" and body == b"ok\n"
out(ok, "HTTP/1.0 + Connection: keep-alive: three requests on one connection, each says keep-alive",
    repr((st, hd)).encode())
s.close()
# HTTP/1.1 keep-alive by default
s = conn()
ok = True
for i in range(3):
    s.sendall(b"GET /" + enc.encode() + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    st, hd, body, rest = read_resp(s)
    ok = ok and st == 200 and "connection" not in hd and body[:1] == b"\x30"
out(ok, "HTTP/1.1 without Connection: three OCSP GETs on one connection", repr((st, hd)).encode())
s.close()
# pipelining: four requests in one send, answered in order
s = conn()
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
          b"GET /" + enc.encode() + b" HTTP/1.1\r\nHost: a\r\n\r\n"
          b"GET /nosuch-not-base64! HTTP/1.1\r\nHost: a\r\n\r\n"
          b"HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
got, rest = [], b""
for i in range(4):
    st, hd, body, rest = read_resp(s, rest, is_head=i == 3)
    got.append((st, hd.get("content-type", "")[:25], body[:3]))
want = [(200, "text/plain; charset=utf-8", b"ok\n"), (200, "application/ocsp-response", None),
        (200, "application/ocsp-response", b"\x30\x03\x0a"), (200, "text/plain; version=0.0.4", b"")]
ok = all(g[0] == w[0] and g[1] == w[1] and (w[2] is None or g[2] == w[2]) for g, w in zip(got, want))
out(ok, "4 pipelined requests (healthz, OCSP GET, malformed GET, HEAD /metrics) answered in order",
    repr(got).encode())
s.close()
# Connection: close in a pipeline: answered, the rest is not, the server closes
s = conn()
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
          b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
st, hd, body, rest = read_resp(s)
out(st == 200 and hd.get("connection") == "close" and closed(s, rest),
    "Connection: close: one answer, the pipelined second is not answered, the server closes",
    repr((st, hd, rest)).encode())
s.close()
EOF
while IFS= read -r ln; do
    case "$ln" in
    ok\ *) pass "${ln#ok }" ;;
    bad\ *) fail "${ln#bad }" ;;
    *) [ -n "$ln" ] && fail "python: $ln" ;;
    esac
done <"$T/raw.out"

# curl reuses a kept-alive connection (1.1) and does not with --http1.0
v=$(curl -sv --max-time 10 -o /dev/null -o /dev/null "$URL/healthz" "$URL/healthz" 2>&1)
expect "curl, two URLs over HTTP/1.1: the second reuses the connection" "$v" \
    '+Re-using existing connection' '-Closing connection'
v=$(curl -sv --http1.0 --max-time 10 -o /dev/null -o /dev/null "$URL/healthz" "$URL/healthz" 2>&1)
expect "curl --http1.0, two URLs: connection closed after each" "$v" '+Connection: close' \
    '-Re-using existing connection'

# --- conditional GET ------------------------------------------------------------------
for what in "OCSP GET|/$ENC" "CRL|/crl/$NAME.crl"; do
    kind=${what%%|*}
    path=${what#*|}
    rm -f "$T/etag"
    h=$(curl -s --max-time 10 -D - -o "$T/full.body" --etag-save "$T/etag" "$URL$path" | tr -d '\r')
    etag=$(printf '%s\n' "$h" | sed -n 's/^ETag: //p')
    lm=$(printf '%s\n' "$h" | sed -n 's/^Last-Modified: //p')
    if [ -n "$etag" ] && [ -n "$lm" ] && [ -s "$T/full.body" ]; then
        pass "$kind: 200 with ETag $etag, Last-Modified $lm"
    else
        fail "$kind: 200 with ETag and Last-Modified" "$h"
        continue
    fi
    # curl's own revalidation: --etag-compare sends If-None-Match
    h=$(curl -s --max-time 10 -D - -o "$T/cond.body" -w 'size=%{size_download}\n' \
        --etag-compare "$T/etag" "$URL$path" | tr -d '\r')
    expect "$kind: curl --etag-compare -> 304 with ETag, Cache-Control, Expires, Last-Modified, no body" \
        "$h" '+^HTTP/1.1 304 Not Modified' "+^ETag: $etag\$" '+^Cache-Control: max-age=[0-9]+, public' \
        '+^Expires: ' "+^Last-Modified: $lm\$" '+^size=0$' '-^Content-Length' '-^Connection: close'
    weak=$(curl -s --max-time 10 -o /dev/null -w '%{http_code} %{size_download}' \
        -H "If-None-Match: \"nope\", W/$etag" "$URL$path")
    expect "$kind: If-None-Match list with W/ETag -> 304 (weak comparison)" "$weak" '+^304 0$'
    star=$(code "$URL$path" -H 'If-None-Match: *')
    other=$(curl -s --max-time 10 -o /dev/null -w '%{http_code} %{size_download}' \
        -H 'If-None-Match: "0000"' "$URL$path")
    expect "$kind: If-None-Match * -> 304; another tag -> 200 with the body" "$star
$other" '+^304$' "+^200 $(stat -c %s "$T/full.body")\$"
    # curl -z sends If-Modified-Since
    c=$(curl -s --max-time 10 -o /dev/null -w '%{http_code} %{size_download}' -z "$lm" "$URL$path")
    expect "$kind: curl -z 'Last-Modified' (If-Modified-Since) -> 304, no body" "$c" '+^304 0$'
    older=$(date -u -d "$lm - 1 second" '+%a, %d %b %Y %H:%M:%S GMT')
    c=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -z "$older" "$URL$path")
    expect "$kind: If-Modified-Since one second before Last-Modified -> 200" "$c" '+^200$'
    c=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H 'If-None-Match: "0000"' \
        -H "If-Modified-Since: $lm" "$URL$path")
    expect "$kind: a non-matching If-None-Match wins over a matching If-Modified-Since -> 200" \
        "$c" '+^200$'
    c=$(curl -s --max-time 10 -I -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$URL$path")
    expect "$kind: HEAD with If-None-Match -> 304" "$c" '+^304$'
done

# --- JSON status API ------------------------------------------------------------------
# check_json SERIAL PEM: the JSON for SERIAL must say what openssl ocsp and x509 say for PEM
check_json() {
    local serial=$1 pem=$2 body o na
    body=$(curl -s --max-time 10 -D "$T/json.hdr" "$URL/api/v1/status/$NAME/$serial")
    o=$(timeout 20 openssl ocsp -issuer "$A/ca.pem" -cert "$pem" -url "$URL/" -CAfile "$A/chain.pem" \
        -no_nonce -resp_text 2>&1)
    na=$(openssl x509 -in "$pem" -noout -enddate | sed 's/^notAfter=//')
    "$PY" - "$body" "$o" "$na" "$NAME" "$(serial_of "$pem")" \
        "$T/json.hdr" <<'EOF'
import datetime, json, re, sys
body, ossl, not_after, issuer, serial, hdrfile = sys.argv[1:7]
hdr = open(hdrfile, encoding="latin1", newline="").read()
probs = []
if not re.search(r"(?m)^HTTP/1.1 200 ", hdr) or "Content-Type: application/json\r\n" not in hdr:
    probs.append("not 200 application/json: " + hdr.splitlines()[0])
try:
    j = json.loads(body)
except ValueError as e:
    print("bad JSON does not parse (%s): %r" % (e, body))
    sys.exit()
want_keys = {"issuer", "serial", "status", "reason", "revocation_time", "invalidity_date",
             "not_after", "source"}
if set(j) != want_keys:
    probs.append("keys %s" % sorted(j))
def t3339(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
def tossl(s):
    return datetime.datetime.strptime(s.replace(" GMT", "").strip(), "%b %d %H:%M:%S %Y").replace(
        tzinfo=datetime.timezone.utc)
m = re.search(r": (good|revoked|unknown)\s*$", ossl, re.M)
ostatus = m.group(1) if m else None
oreason = re.search(r"Reason: (\S+)", ossl)
orev = re.search(r"Revocation Time: (.+)", ossl)
if j.get("issuer") != issuer: probs.append("issuer %r" % j.get("issuer"))
if j.get("serial") != serial.upper(): probs.append("serial %r, openssl says %s" % (j.get("serial"), serial))
if j.get("source") != "index": probs.append("source %r" % j.get("source"))
if t3339(j["not_after"]) != tossl(not_after):
    probs.append("not_after %s, certificate says %s" % (j["not_after"], not_after))
js = {"good": "good", "revoked": "revoked", "on_hold": "revoked"}.get(j.get("status"))
if js != ostatus: probs.append("status %r, openssl ocsp says %r" % (j.get("status"), ostatus))
if ostatus == "revoked":
    if (oreason.group(1) if oreason else None) != j.get("reason"):
        probs.append("reason %r, openssl ocsp says %r" % (j.get("reason"), oreason and oreason.group(1)))
    if not orev or t3339(j["revocation_time"]) != tossl(orev.group(1)):
        probs.append("revocation_time %r, openssl ocsp says %r" % (j["revocation_time"], orev and orev.group(1)))
elif j.get("reason") is not None or j.get("revocation_time") is not None:
    probs.append("a good certificate with reason/revocation_time")
print(("bad " + "; ".join(probs) + " | " + body) if probs else
      "ok %s: %s/%s/%s as openssl ocsp says" % (serial, j["status"], j["reason"], j["revocation_time"]))
EOF
}
for leaf in good revoked; do
    s=$(serial_of "$A/$leaf.pem")
    r=$(check_json "$s" "$A/$leaf.pem")
    case "$r" in
    ok\ *) pass "status API, $leaf.pem: ${r#ok }" ;;
    *) fail "status API, $leaf.pem: JSON vs openssl ocsp" "$r" ;;
    esac
done
lower=$(printf '%s' "$SERIAL_REV" | tr 'A-F' 'a-f')
a=$(curl -s --max-time 10 "$URL/api/v1/status/$NAME/$SERIAL_REV")
b=$(curl -s --max-time 10 "$URL/api/v1/status/$NAME/000$lower")
if [ -n "$a" ] && [ "$a" = "$b" ]; then
    pass "status API: 000$lower and $SERIAL_REV name the same certificate"
else
    fail "status API: leading zeros and case are normalised" "$a
$b"
fi
jerr() { # PATH -> "CODE ERROR" with the error member read by json.loads
    curl -s --max-time 10 -w '\n%{http_code}' "$URL$1" |
        "$PY" -c 'import json, sys
d = sys.stdin.read().rsplit("\n", 1)
print(d[1], json.loads(d[0])["error"])'
}
expect "status API: unknown serial -> 404 JSON" "$(jerr "/api/v1/status/$NAME/0BADBAD0")" \
    '+^404 not found$'
expect "status API: unknown issuer -> 404 JSON" "$(jerr "/api/v1/status/nosuch/$SERIAL_GOOD")" \
    '+^404 not found$'
expect "status API: malformed serial (0x prefix) -> 400 JSON" \
    "$(jerr "/api/v1/status/$NAME/0x$SERIAL_GOOD")" '+^400 bad request$'
expect "status API: 33-octet serial -> 400 JSON" \
    "$(jerr "/api/v1/status/$NAME/01$(printf '0%.0s' {1..64})")" '+^400 bad request$'
h=$(curl -s --max-time 10 -I "$URL/api/v1/status/$NAME/$SERIAL_GOOD" | tr -d '\r')
n=$(curl -s --max-time 10 "$URL/api/v1/status/$NAME/$SERIAL_GOOD" | wc -c)
expect "status API: HEAD -> 200 application/json, Content-Length of the GET body ($n)" "$h" \
    '+^HTTP/1.1 200 ' '+^Content-Type: application/json$' "+^Content-Length: $n\$"

# switched off: the route does not exist
stop_bg responder
write_conf "$CONF" no
start_bg responder2 "$RSP" -c "$CONF"
if wait_port "$PORT" 15; then
    c=$(code "$URL/api/v1/status/$NAME/$SERIAL_GOOD")
    expect "status_api = no -> GET /api/v1/status/... is 404" "$c" '+^404$'
    c=$(code "$URL/$ENC")
    expect "status_api = no: OCSP still served" "$c" '+^200$'
else
    fail "revokd-responder restarts with status_api = no" "$(cat "$T/responder2.log")"
fi

finish
