#!/usr/bin/env bash
# End-to-end: the Debian package (issue 11, item 3), as an operator gets it. Builds the
# .deb with CPack from this build tree, checks what it holds, installs it with
# `dpkg -i` on this machine, runs `systemd-analyze verify` and the offline
# `systemd-analyze security` on the installed units, then starts the INSTALLED
# programs (/usr/bin) against a demo PKI laid out as the units expect: as the revokd
# user, with the signing keys readable only through the revokd-keys group that the
# indexer and crlgen units add (the responder's does not): the responder, without
# that group, cannot read a key and still answers. Purges the package at the end
# (unless it was installed before the test). Serialised with a lock (dpkg is global).
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_package.sh   (ctest sets both)
#
# Needs root (dpkg -i); as another user it says SKIP and exits 0.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: test_package needs root for dpkg -i (running as uid $(id -u))"
    exit 0
fi
e2e_init
BUILD=$(cd "$BUILD" && pwd)
need_programs "$BUILD/revokd-indexer" /usr/bin/cpack /usr/bin/dpkg /usr/bin/systemd-analyze /usr/bin/setpriv

exec 9>/tmp/revokd-test-package.lock
flock -w 600 9 || { fail "dpkg lock /tmp/revokd-test-package.lock"; finish; }
PRE_INSTALLED=
dpkg -s revokd >/dev/null 2>&1 && PRE_INSTALLED=1
# shellcheck disable=SC2317 # called from the EXIT trap
purge() { [ -n "$PRE_INSTALLED" ] || dpkg --purge revokd >"$T/purge.log" 2>&1; }
trap 'rc=$?; purge; (exit $rc); e2e_cleanup' EXIT

# --- build and inspect ---------------------------------------------------------------
if run_logged cpack 300 cpack -G DEB -B "$T/pkg" --config "$BUILD/CPackConfig.cmake"; then
    pass "cpack -G DEB built $(basename "$T"/pkg/revokd_*.deb)"
else
    fail "cpack -G DEB" "$(cat "$T/cpack.log")"
    finish
fi
DEB=$(ls "$T"/pkg/revokd_*.deb)
expect "the .deb holds the four programs, three units and the example config" "$(dpkg-deb -c "$DEB")" \
    '+\./usr/bin/revokd-indexer$' '+\./usr/bin/revokd-responder$' '+\./usr/bin/revokd-crlgen$' \
    '+\./usr/bin/revokctl$' '+systemd/system/revokd-responder\.service$' \
    '+systemd/system/revokd-indexer\.service$' '+systemd/system/revokd-crlgen\.service$' \
    '+\./etc/revokd/revokd\.conf$' '+examples/nginx/revokd-relying-party\.conf$'
expect "control: runtime libraries as dependencies, the config a conffile" \
    "$(dpkg-deb -f "$DEB" Depends; dpkg-deb -I "$DEB" conffiles)" \
    '+libssl3' '+liblmdb0' '+libev4' '+liburing2' '+^/etc/revokd/revokd\.conf$'
expect "the packaged config keeps keys in /etc/revokd/keys" "$(dpkg-deb --fsys-tarfile "$DEB" | tar -xOf - ./etc/revokd/revokd.conf)" \
    '+^signer_key = /etc/revokd/keys/' '+^crl_key = /etc/revokd/keys/'

# --- install -----------------------------------------------------------------------------
if run_logged dpkg-i 300 dpkg -i "$DEB"; then
    pass "dpkg -i $(basename "$DEB")"
else
    fail "dpkg -i" "$(cat "$T/dpkg-i.log")"
    finish
fi
expect "postinst: revokd user and revokd-keys group, keys dir root:revokd-keys 0750" \
    "$(id revokd 2>&1; getent group revokd-keys; stat -c '%U:%G %a %n' /etc/revokd/keys)" \
    '+uid=[0-9]+\(revokd\)' '+^revokd-keys:' '+^root:revokd-keys 750 /etc/revokd/keys$'
UNITS=(/lib/systemd/system/revokd-*.service)
if out=$(systemd-analyze verify "${UNITS[@]}" 2>&1) && [ -z "$out" ]; then
    pass "systemd-analyze verify: the three installed units, no complaint"
else
    fail "systemd-analyze verify" "$out"
fi
for u in "${UNITS[@]}"; do
    out=$(systemd-analyze security --offline=true "$u" 2>&1 | tail -n 1)
    score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    # 2.0 is systemd's "OK" band edge
    if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
        pass "systemd-analyze security $(basename "$u"): exposure $score (<= 2.0)"
    else
        fail "systemd-analyze security $(basename "$u"): want exposure <= 2.0" "$out"
    fi
done
for u in "${UNITS[@]}"; do
    expect "$(basename "$u"): hardened as documented" "$(cat "$u")" '+^User=revokd$' \
        '+^ProtectSystem=strict$' '+^NoNewPrivileges=yes$' '+^StateDirectory=revokd$' '+^Restart=(on-failure|always)$'
done
expect "only the indexer and crlgen units get the key group; the responder's cannot see the keys" \
    "$(grep -l '^SupplementaryGroups=revokd-keys' "${UNITS[@]}"; grep -H '^InaccessiblePaths' "${UNITS[@]}")" \
    '+revokd-indexer\.service$' '+revokd-crlgen\.service$' '-responder\.service$' \
    '+revokd-responder\.service:InaccessiblePaths=-/etc/revokd/keys'

# --- run the installed programs as the units do ----------------------------------------------
PORT=$(free_port)
P=$T/pki
make_pki "$P" pkg "the demo PKI"
chmod 755 "$T"
K=$T/keys # stands for /etc/revokd/keys
V=$T/var  # stands for /var/lib/revokd (StateDirectory)
install -d -m 0750 -o root -g revokd-keys "$K"
install -d -m 0750 -o revokd -g revokd "$V"
for k in ocsp ca ocsp-root root; do
    install -m 0640 -o root -g revokd-keys "$P/$k.key" "$K/$k.key"
    rm -f "$P/$k.key"
done
chmod 755 "$P"
sed -e "s|^path = store|path = $V/store|" -e "s|^out_dir = crl|out_dir = $V/crl|" \
    -e "s|^signer_key *= *\(.*\)\.key|signer_key = $K/\1.key|" -e "s|^crl_key *= *\(.*\)\.key|crl_key = $K/\1.key|" \
    "$P/revokd.conf" >"$P/installed.conf"
AS_KEYHOLDER=(setpriv --reuid=revokd --regid=revokd --groups=revokd-keys) # the indexer's and crlgen's units
AS_RESPONDER=(setpriv --reuid=revokd --regid=revokd --clear-groups) # the responder's unit
if "${AS_RESPONDER[@]}" cat "$K/ocsp.key" >/dev/null 2>&1; then
    fail "the revokd user without revokd-keys can read the signer key"
else
    pass "the revokd user without revokd-keys cannot read the signer key"
fi
if run_logged indexer 120 "${AS_KEYHOLDER[@]}" /usr/bin/revokd-indexer -c "$P/installed.conf" --once; then
    pass "installed revokd-indexer --once as revokd (+revokd-keys)"
else
    fail "installed revokd-indexer" "$(cat "$T/indexer.log")"
fi
if run_logged crlgen 120 "${AS_KEYHOLDER[@]}" /usr/bin/revokd-crlgen -c "$P/installed.conf" --once; then
    pass "installed revokd-crlgen --once as revokd (+revokd-keys)"
else
    fail "installed revokd-crlgen" "$(cat "$T/crlgen.log")"
fi
start_bg responder "${AS_RESPONDER[@]}" /usr/bin/revokd-responder -c "$P/installed.conf"
listens responder "installed revokd-responder listens as revokd, without the key group"
ocsp() { openssl ocsp -issuer "$P/ca.pem" -cert "$P/$1.pem" -url "http://127.0.0.1:$PORT" -CAfile "$P/chain.pem" 2>&1; }
expect "installed responder: good.pem good (openssl ocsp)" "$(ocsp good)" '+Response verify OK' '+good.pem: good'
expect "installed responder: revoked.pem revoked (openssl ocsp)" "$(ocsp revoked)" '+Response verify OK' '+revoked.pem: revoked'
out=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/crl/pkg.crl" -o "$T/pkg.crl" -w '%{http_code}' &&
    openssl crl -inform DER -in "$T/pkg.crl" -CAfile "$P/chain.pem" -noout 2>&1)
expect "installed responder serves crlgen's CRL, signature verified" "$out" '+^200' '+verify OK'
pid=$(pid_of responder)
expect "the responder runs as revokd with no supplementary group" "$(grep -E '^(Uid|Groups):' /proc/"$pid"/status)" \
    "+^Uid:\s+$(id -u revokd)\s" '+^Groups:\s*$'
stop_bg responder

if [ -z "$PRE_INSTALLED" ]; then
    if run_logged purge 120 dpkg --purge revokd && [ ! -e /usr/bin/revokd-responder ] && ! id revokd >/dev/null 2>&1; then
        pass "dpkg --purge revokd: programs, user and group gone"
    else
        fail "dpkg --purge" "$(cat "$T/purge.log")"
    fi
fi
finish
