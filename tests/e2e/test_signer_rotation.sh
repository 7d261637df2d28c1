#!/usr/bin/env bash
# End-to-end: rotating the delegated OCSP signer by config (issue 8 item 5). The
# store keeps each signer's certificate once and every response names the signer
# that signed it, so while the indexer re-signs with the new signer, responses not
# yet re-signed still go out with the old signer's certificate: openssl ocsp, with
# the CA as trust anchor, verifies every answer before, during and after the
# rotation, and -VAfile (trust exactly this signer) shows which signer it was.
# Last, a store of schema 2 (no signers database) is refused by the responder and
# the indexer with the message that says how to rebuild it.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_signer_rotation.sh   (ctest sets both)
#   E2E_KEEP=1 keeps the temp dir; it is always kept when something failed.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=rot
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
EXTRA=1500 # synthetic certificates, so the re-signing takes long enough to be asked during it

echo "e2e: build $BUILD, temp $T"
need_programs "$IDX" "$RSP" "$(command -v mdb_dump || echo mdb_dump)" "$(command -v mdb_load || echo mdb_load)"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
P=$T/pki
make_pki "$P" "$NAME" "a PKI with a delegated OCSP signer"

# The second signer, issued by the same CA with the same profile (OCSPSigning, nocheck).
openssl req -new -newkey rsa:2048 -nodes -keyout "$P/ocsp2.key" -subj "/O=revokd demo/CN=ocsp2.$NAME.revokd.test" \
    -out "$T/ocsp2.csr" -config /dev/null >"$T/ocsp2.log" 2>&1 &&
    openssl ca -config "$P/openssl.cnf" -batch -notext -extensions ocsp_ext -in "$T/ocsp2.csr" \
        -out "$P/ocsp2.pem" >>"$T/ocsp2.log" 2>&1
if openssl verify -CAfile "$P/chain.pem" -purpose ocsphelper "$P/ocsp2.pem" >>"$T/ocsp2.log" 2>&1; then
    pass "second OCSP signer ocsp2.pem issued by the CA"
else
    fail "issuing ocsp2.pem" "$(cat "$T/ocsp2.log")"
    finish
fi
"$PY" "$SRC/bench/synth-index.py" --n $((EXTRA + $(wc -l <"$P/index.txt"))) --out "$T/index.big" \
    --base "$P/index.txt" >"$T/synth.log" 2>&1 || { fail "synth-index.py" "$(cat "$T/synth.log")"; finish; }
cp "$T/index.big" "$P/index.txt"
# A few synthetic serials to ask about, spread over the file (sorted order is not file order).
mapfile -t SERIALS < <(awk -F'\t' '$1 == "V" && NR > 8 && NR % 97 == 0 { print $4 }' "$P/index.txt" | head -n 12)
if [ "${#SERIALS[@]}" -ge 10 ]; then
    pass "index.txt: $(wc -l <"$P/index.txt") certificates"
else
    fail "synthetic serials" "${SERIALS[*]}"
    finish
fi

# write_conf SIGNER: the config with [issuer $NAME] signed by SIGNER.pem/.key
write_conf() {
    cat >"$T/revokd.conf" <<EOF
[store]
path = store

[log]
level = info

[responder]
listen = 127.0.0.1:$PORT
backend = $E2E_BACKEND

[indexer]
batch = 50

[issuer $NAME]
ca_cert     = pki/ca.pem
index       = pki/index.txt
signer_cert = pki/$1.pem
signer_key  = pki/$1.key
crl_key     = pki/ca.key
EOF
}

# ask SERIAL|CERT [openssl ocsp trust options...]: one query; prints openssl's output
ask() {
    local what=$1
    shift
    local q=(-cert "$what")
    [ -f "$what" ] || q=(-serial "0x$what")
    timeout -k 5 30 openssl ocsp -url "$URL" -timeout 10 -issuer "$P/ca.pem" -no_nonce "${q[@]}" \
        -resp_text "$@" 2>&1
}
# signer_of OUT: which signer's certificate the answer carried (ocsp or ocsp2)
signer_of() {
    if grep -q "CN *= *ocsp2\.$NAME\.revokd\.test" <<<"$1"; then echo ocsp2
    elif grep -q "CN *= *ocsp\.$NAME\.revokd\.test" <<<"$1"; then echo ocsp
    else echo none; fi
}

# --- before: signed by ocsp -------------------------------------------------------
write_conf ocsp
if run_logged idx1 600 env -C "$T" "$IDX" -c "$T/revokd.conf" --once; then
    pass "revokd-indexer --once with signer ocsp.pem"
else
    fail "revokd-indexer --once (exit $?)" "$(tail -n 20 "$T/idx1.log")"
    finish
fi
start_bg responder env -C "$T" "$RSP" -c "$T/revokd.conf"
listens responder "revokd-responder listens on $URL"
out=$(ask "$P/good.pem" -CAfile "$P/chain.pem")
expect "before: good.pem good, verified with the CA as trust anchor, signer ocsp" \
    "$out $(signer_of "$out")" '+Response verify OK' '+good.pem: good' '+ ocsp$'
out=$(ask "$P/revoked.pem" -VAfile "$P/ocsp.pem")
expect "before: revoked.pem revoked, verified with -VAfile ocsp.pem" "$out" \
    '+Response verify OK' '+revoked.pem: revoked'

# --- during: the indexer runs with ocsp2 while we keep asking ---------------------------
write_conf ocsp2
start_bg indexer env -C "$T" "$IDX" -c "$T/revokd.conf"
n=0 bad=0 old=0 new=0 badout=
t_end=$((SECONDS + 300))
while :; do
    done_sync=
    grep -q "\[issuer $NAME\] synced" "$T/indexer.log" && done_sync=1
    for s in "${SERIALS[@]}"; do
        out=$(ask "$s" -CAfile "$P/chain.pem")
        n=$((n + 1))
        if grep -q 'Response verify OK' <<<"$out" && grep -q ": good" <<<"$out"; then
            case $(signer_of "$out") in ocsp) old=$((old + 1)) ;; ocsp2) new=$((new + 1)) ;; *) bad=$((bad + 1)) ;; esac
        else
            bad=$((bad + 1))
            badout=$out
        fi
    done
    [ -n "$done_sync" ] && break
    if [ $SECONDS -ge $t_end ] || ! alive indexer; then
        fail "indexer finished re-signing within 300 s" "$(tail -n 20 "$T/indexer.log")"
        break
    fi
done
if [ "$bad" -eq 0 ]; then
    pass "during: $n answers, all verified with the CA as trust anchor ($old carried ocsp, $new ocsp2)"
else
    fail "during: $bad of $n answers did not verify or named no signer" "$badout"
fi
expect "indexer re-signed every response with the new signer" "$(cat "$T/indexer.log")" \
    "+\[issuer $NAME\] synced [0-9]+ entries \(0 changed, [0-9]+ responses signed"

# --- after: everything signed by ocsp2 -------------------------------------------------
bad=0
for s in "${SERIALS[@]}" "$P/good.pem"; do
    out=$(ask "$s" -VAfile "$P/ocsp2.pem")
    if ! grep -q 'Response verify OK' <<<"$out" || [ "$(signer_of "$out")" != ocsp2 ]; then
        bad=$((bad + 1))
        badout=$out
    fi
done
if [ "$bad" -eq 0 ]; then
    pass "after: every answer signed by ocsp2 (verified with -VAfile ocsp2.pem)"
else
    fail "after: $bad answers not signed by ocsp2" "$badout"
fi
out=$(ask "$P/revoked.pem" -CAfile "$P/chain.pem")
expect "after: revoked.pem still revoked, verified with the CA as trust anchor" \
    "$out $(signer_of "$out")" '+Response verify OK' '+revoked.pem: revoked' '+ ocsp2$'
out=$(ask "$P/good.pem" -VAfile "$P/ocsp.pem")
expect "after: the old signer no longer signs (-VAfile ocsp.pem refuses the answer)" "$out" \
    '-Response verify OK'
# Python cryptography, independently: the DER parses whole and carries exactly ocsp2.pem.
ask "$P/good.pem" -CAfile "$P/chain.pem" -respout "$T/good.der" >/dev/null
out=$("$PY" - "$T/good.der" "$P/ocsp2.pem" <<'EOF' 2>&1
import sys
from cryptography import x509
from cryptography.x509 import ocsp
der = open(sys.argv[1], "rb").read()
r = ocsp.load_der_ocsp_response(der)
want = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
print("status", r.response_status.name, "certs", len(r.certificates),
      "match", r.certificates[0] == want, "cert_status", r.certificate_status.name)
EOF
)
expect "after: python cryptography parses the response; it carries exactly ocsp2.pem" "$out" \
    '+status SUCCESSFUL certs 1 match True cert_status GOOD'
stop_bg indexer
stop_bg responder

# --- a store of schema 2 is refused with the way to rebuild it ------------------------
# Made from this store with lmdb-utils: schema number 2, no signers database.
mdb_dump -a "$T/store" >"$T/dump.txt" 2>"$T/dump.err"
"$PY" - "$T/dump.txt" "$T/dump2.txt" <<'EOF'
import sys
blocks, cur = [], []
for line in open(sys.argv[1]):
    cur.append(line)
    if line.strip() == "DATA=END":
        blocks.append(cur)
        cur = []
out = []
for b in blocks:
    text = "".join(b)
    if "database=signers\n" in text:
        continue
    if "database=meta\n" in text:
        text = text.replace(" 736368656d61\n 03000000\n", " 736368656d61\n 02000000\n")
    out.append(text)
open(sys.argv[2], "w").write("".join(out))
EOF
mkdir -p "$T/old/store"
if mdb_load -f "$T/dump2.txt" "$T/old/store" 2>>"$T/dump.err" && grep -q '^ 02000000$' "$T/dump2.txt" &&
    ! grep -q 'database=signers' "$T/dump2.txt"; then
    pass "a schema 2 store (no signers database) made with mdb_dump/mdb_load"
    sed 's|^path = store|path = old/store|' "$T/revokd.conf" >"$T/old.conf"
    run_logged old-rsp 20 env -C "$T" "$RSP" -c "$T/old.conf"
    rc=$?
    expect "revokd-responder refuses a schema 2 store (exit $rc) and says how to rebuild it" \
        "exit $rc $(cat "$T/old-rsp.log")" '-^exit 0 ' '+schema mismatch' '+revokd-indexer -c CONFIG --once'
    run_logged old-idx 20 env -C "$T" "$IDX" -c "$T/old.conf" --once
    rc=$?
    expect "revokd-indexer refuses a schema 2 store (exit $rc) and says how to rebuild it" \
        "exit $rc $(cat "$T/old-idx.log")" '-^exit 0 ' '+schema mismatch' '+revokd-indexer -c CONFIG --once'
else
    fail "making a schema 2 store with mdb_load" "$(cat "$T/dump.err")"
fi
finish
