#!/usr/bin/env bash
# End-to-end: the deployment files that cannot run here whole (no Docker engine,
# Prometheus or Grafana server), checked with the real tools that do (issue 11,
# items 2 and 6):
#   - docker/Dockerfile: two stages (Debian 12 build reusing install-deps.sh, Debian 12
#     slim runtime), non-root USER, every program copied; its runtime packages are
#     exactly the ones whose libraries the built programs load (ldd + dpkg -S); its
#     HEALTHCHECK command, run against a real responder, passes, and fails once the
#     responder is stopped;
#   - docker/compose/: compose.yaml parses and wires the topology (keys only in the
#     indexer and crlgen, responders with the io_uring seccomp profile and the
#     indexer's pid namespace); its haproxy.cfg passes `haproxy -c`; its VCL and
#     conf/varnish/revokd.vcl compile with `varnishd -C`;
#   - docker/seccomp/add-io_uring.py: adds exactly one io_uring rule to a profile in
#     Docker's format, keeps every other rule, is idempotent, refuses non-profiles;
#   - monitoring/: `promtool check rules` and `promtool test rules`; every metric the
#     alerts and the Grafana dashboard use is one revokd exports (responder/handler.c)
#     or HAProxy's exporter's.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init
PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
VARNISHD=$(command -v varnishd || echo /usr/sbin/varnishd)
need_programs "$BUILD/revokd-responder" "$BUILD/revokd-indexer" "$PROMTOOL" "$HAPROXY" "$VARNISHD"
D=$SRC/docker

# --- Dockerfile ---------------------------------------------------------------------------
DF=$D/Dockerfile
expect "Dockerfile: Debian 12 build stage reusing install-deps.sh, Debian 12 slim runtime, non-root" "$(cat "$DF")" \
    '+^FROM debian:12 AS build$' '+^RUN /tmp/install-deps.sh$' '+^FROM debian:12-slim$' \
    '+^USER revokd' '-^USER root' '+^HEALTHCHECK ' '+^    CMD .*GET /healthz' \
    '+^COPY --from=build .*revokd-indexer.*revokd-responder.*revokd-crlgen.*revokctl'
if [ "$(grep -c '^FROM ' "$DF")" -eq 2 ]; then
    pass "Dockerfile: exactly two stages"
else
    fail "Dockerfile: stages" "$(grep '^FROM' "$DF")"
fi
runtime=$(sed -n '/^FROM debian:12-slim/,$p' "$DF" | tr -d '\\\n' | grep -o 'install -y -qq --no-install-recommends[^&]*' |
    sed 's/install -y -qq --no-install-recommends//' | tr ' ' '\n' | grep . | sort -u)
needed=$(for b in revokd-indexer revokd-responder revokd-crlgen revokctl; do ldd "$BUILD/$b"; done |
    awk '/=> \// { print $3 }' | sort -u | xargs -r -n1 readlink -f | xargs -r dpkg -S 2>/dev/null |
    cut -d: -f1 | sort -u | grep -v -x -e libc6 -e libgcc-s1 |
    grep -v -x -E 'lib(asan|ubsan|lsan)[0-9]+|libstdc\+\+6')
# (libc6 and libgcc-s1 are in debian:12-slim; the sanitizer runtimes, and the libstdc++ that
# UBSan pulls in, only appear in a REVOKD_SANITIZE build, which the image never is.)
if [ -n "$runtime" ] && [ "$runtime" = "$needed" ]; then
    pass "Dockerfile runtime packages = the libraries the programs load: $(printf "%s" "$runtime" | tr "\n" " ")"
else
    fail "Dockerfile runtime packages differ from what ldd + dpkg -S need" "Dockerfile: $(printf "%s" "$runtime" | tr "\n" " "); needed: $(printf "%s" "$needed" | tr "\n" " ")"
fi
# The HEALTHCHECK's command, as Docker would exec it, against a real responder.
hc=$(sed -n 's/^    CMD \["bash", "-c", "\(.*\)"\]$/\1/p' "$DF" | sed 's/\\\\/\\/g')
PORT=$(free_port)
make_pki "$T/pki" hc "a PKI for the HEALTHCHECK"
run_logged indexer 60 "$BUILD/revokd-indexer" -c "$T/pki/revokd.conf" --once || fail "indexer" "$(cat "$T/indexer.log")"
start_bg responder "$BUILD/revokd-responder" -c "$T/pki/revokd.conf"
wait_port "$PORT" 15 || fail "responder listens" "$(cat "$T/responder.log")"
if [ -n "$hc" ] && timeout 5 bash -c "${hc//8080/$PORT}"; then
    pass "HEALTHCHECK command passes against a running responder"
else
    fail "HEALTHCHECK command against a running responder" "$hc"
fi
stop_bg responder
if timeout 5 bash -c "${hc//8080/$PORT}" 2>/dev/null; then
    fail "HEALTHCHECK command passes with the responder stopped"
else
    pass "HEALTHCHECK command fails once the responder is stopped"
fi

# --- compose ----------------------------------------------------------------------------
out=$("$PY" - "$D/compose/compose.yaml" <<'PYEOF' 2>&1
import os, sys, yaml
path = sys.argv[1]
c = yaml.safe_load(open(path))
base = os.path.dirname(path)
s = c["services"]
for name in ("indexer", "crlgen", "responder-1", "responder-2", "haproxy", "varnish"):
    assert name in s, f"no service {name}"
for name, svc in s.items():
    vols = svc.get("volumes", [])
    keys = [v for v in vols if isinstance(v, str) and v.split(":")[1] == "/keys"]
    if name in ("indexer", "crlgen"):
        assert keys, f"{name} lacks the keys"
    else:
        assert not keys, f"{name} mounts the keys"
    for v in vols:
        src = v.split(":")[0]
        if src.startswith("./") and not src.startswith("./pki"):
            assert os.path.exists(os.path.join(base, src)), f"{name}: {src} missing"
for r in ("responder-1", "responder-2"):
    svc = s[r]
    assert svc["image"] == "revokd:latest", f"{r}: image"
    assert any(o.startswith("seccomp=") for o in svc["security_opt"]), f"{r}: no seccomp profile"
    assert svc.get("pid") == "service:indexer", f"{r}: not in the indexer's pid namespace"
    assert svc.get("read_only") is True and svc.get("cap_drop") == ["ALL"], f"{r}: not locked down"
assert s["crlgen"].get("pid") == "service:indexer"
assert s["indexer"].get("network_mode") == "none"
assert any(str(p).endswith(":80") for p in s["varnish"]["ports"]), "varnish not published"
print("compose ok")
PYEOF
)
expect "compose.yaml parses and wires the topology" "$out" '+^compose ok$'
if out=$("$HAPROXY" -c -f "$D/compose/haproxy.cfg" 2>&1); then
    pass "haproxy -c docker/compose/haproxy.cfg"
else
    fail "haproxy -c docker/compose/haproxy.cfg" "$out"
fi
vcl_ok() { # vcl_ok FILE: varnishd -C compiles FILE (with the backend host made local)
    sed -e 's/"haproxy"/"127.0.0.1"/' -e 's/"@BACKEND_PORT@"/"8081"/' "$1" >"$T/check.vcl"
    "$VARNISHD" -C -j none -f "$T/check.vcl" -n "$T/varnish-check" >"$T/vcl.log" 2>&1
}
for v in "$D/compose/varnish.vcl" "$SRC/conf/varnish/revokd.vcl"; do
    if vcl_ok "$v"; then pass "varnishd -C compiles ${v#"$SRC"/}"; else fail "varnishd -C ${v#"$SRC"/}" "$(tail -n 20 "$T/vcl.log")"; fi
done

# --- seccomp -----------------------------------------------------------------------------
cat >"$T/profile.json" <<'JSONEOF'
{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
 "syscalls": [
  {"names": ["read", "write", "close"], "action": "SCMP_ACT_ALLOW"},
  {"names": ["io_uring_setup"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
  {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}
JSONEOF
ADD=$D/seccomp/add-io_uring.py
out=$("$PY" "$ADD" "$T/profile.json" >"$T/out.json" 2>&1 && "$PY" "$ADD" "$T/out.json" >"$T/out2.json" &&
    "$PY" - "$T/profile.json" "$T/out.json" "$T/out2.json" <<'PYEOF' 2>&1
import json, sys
a, b, c = (json.load(open(p)) for p in sys.argv[1:])
assert b["syscalls"][:-1] == a["syscalls"], "an existing rule changed"
new = b["syscalls"][-1]
assert new["action"] == "SCMP_ACT_ALLOW" and not new.get("args") and not new.get("includes")
assert sorted(new["names"]) == ["io_uring_enter", "io_uring_register", "io_uring_setup"], new["names"]
assert b["defaultAction"] == "SCMP_ACT_ERRNO"
assert c == b, "not idempotent"
print("seccomp ok")
PYEOF
)
expect "add-io_uring.py: one unconditional io_uring rule added, the rest kept, idempotent" "$out" '+^seccomp ok$'
echo '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}' >"$T/allow.json"
if "$PY" "$ADD" "$T/allow.json" >/dev/null 2>"$T/bad.log"; then
    fail "add-io_uring.py accepts an allow-by-default profile"
else
    expect "add-io_uring.py refuses an allow-by-default profile" "$(cat "$T/bad.log")" '+not a deny-by-default'
fi

# --- monitoring ---------------------------------------------------------------------------
MON=$SRC/monitoring
if out=$("$PROMTOOL" check rules "$MON/prometheus/revokd-alerts.yml" 2>&1); then
    pass "promtool check rules: $(printf '%s\n' "$out" | grep -o '[0-9]* rules found')"
else
    fail "promtool check rules" "$out"
fi
if out=$(cd "$MON/prometheus" && "$PROMTOOL" test rules revokd-alerts.test.yml 2>&1); then
    pass "promtool test rules: the alerts fire on what should trigger them, not otherwise"
else
    fail "promtool test rules" "$out"
fi
exported=$(grep -o '"revokd_[a-z_]*"' "$SRC/responder/handler.c" | tr -d '"' | sort -u)
out=$("$PY" - "$MON/grafana/revokd-dashboard.json" "$MON/prometheus/revokd-alerts.yml" "$exported" <<'PYEOF' 2>&1
import json, re, sys, yaml
dash = json.load(open(sys.argv[1]))
rules = yaml.safe_load(open(sys.argv[2]))
exported = set(sys.argv[3].split())
exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
used = set()
for e in exprs:
    used |= set(re.findall(r"\b(revokd_[a-z_]+)\b", e))
unknown = sorted(m for m in used - exported if m not in recorded)
assert not unknown, f"metrics not exported by revokd: {unknown}"
ids = [p["id"] for p in dash["panels"]]
assert len(ids) == len(set(ids)), "duplicate panel ids"
assert any(v["name"] == "datasource" for v in dash["templating"]["list"])
print(f"metrics ok: {len(used)} revokd metrics used, all exported")
PYEOF
)
expect "Grafana dashboard JSON and alert rules use only metrics revokd exports" "$out" '+^metrics ok'

finish
