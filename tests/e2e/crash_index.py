#!/usr/bin/env python3
"""crash_index.py — the index.txt side of tests/e2e/test_indexer_crash.sh.

    crash_index.py mutate INDEX LAGFILE --seed S [--new N] [--revoke R]
    crash_index.py compare INDEX STORE_LINES LAGFILE [--exact]

mutate: what a CA does between two indexer runs, written as `openssl ca` does
(a new file renamed over the old): appends N new valid certificates and revokes
R random valid ones now (reason keyCompromise, superseded or none). The serials
it revoked are added to LAGFILE: until a sync completes, the store may still
hold them as good.

compare: STORE_LINES is e2e_storecheck's output for the issuer ("SERIALHEX
STATUS REVOKED_AT REASON"). Every certificate in the store must be listed in
INDEX with the same state: revoked ones with the same revocation time and
reason; a good one only if INDEX says valid, or it is in LAGFILE (revoked after
the last complete sync). With --exact (after a complete sync) every INDEX line
must be in the store and nothing may lag. Prints "pending N": the certificates
a complete sync still has to write (missing or lagging), i.e. half the
responses it must sign. Exit 1 with one line per mismatch (at most 20 shown).
"""
import argparse
import calendar
import os
import random
import sys
import time

# CRLReason codes of the reason words `openssl ca` writes (indexer/cadb.c)
REASONS = {"unspecified": 0, "keycompromise": 1, "cacompromise": 2,
           "affiliationchanged": 3, "superseded": 4, "cessationofoperation": 5,
           "certificatehold": 6}


def utc(s):
    """YYMMDDHHMMSSZ (UTCTime) or YYYYMMDDHHMMSSZ -> Unix seconds."""
    fmt = "%y%m%d%H%M%SZ" if len(s) == 13 else "%Y%m%d%H%M%SZ"
    return calendar.timegm(time.strptime(s, fmt))


def read_index(path):
    """serial (int) -> (type, revoked_at, reason code or None), in file order."""
    out = {}
    lines = []
    with open(path, encoding="ascii") as f:
        for ln in f.read().splitlines():
            if not ln.strip():
                continue
            cols = ln.split("\t")
            typ, rev, serial = cols[0], cols[2], int(cols[3], 16)
            at, reason = 0, None
            if typ == "R":
                parts = rev.split(",")
                at = utc(parts[0])
                if len(parts) > 1:
                    reason = REASONS[parts[1].lower()]
            out[serial] = (typ, at, reason)
            lines.append(cols)
    return out, lines


def mutate(a):
    rng = random.Random(a.seed)
    _, lines = read_index(a.index)
    now = int(time.time()) - 60  # a minute ago: never a future revocation date
    when = time.strftime("%y%m%d%H%M%SZ", time.gmtime(now))
    valid = [i for i, c in enumerate(lines) if c[0] == "V"]
    revoked = rng.sample(valid, min(a.revoke, len(valid)))
    with open(a.lagfile, "a", encoding="ascii") as lag:
        for i in revoked:
            reason = rng.choice(("keyCompromise", "superseded", None))
            lines[i][0] = "R"
            lines[i][2] = when + ("," + reason if reason else "")
            lag.write("%X\n" % int(lines[i][3], 16))
    expiry = lines[-1][1]
    # 9-octet serials above every synthetic one (those are below 2^63)
    top = max([int(c[3], 16) for c in lines] + [1 << 68])
    for k in range(a.new):
        serial = "%X" % (top + 1 + k)
        lines.append(["V", expiry, "", serial, "unknown",
                      "/O=revokd e2e/CN=n%s.crash.revokd.test" % serial])
    tmp = a.index + ".new"
    with open(tmp, "w", encoding="ascii", newline="\n") as f:
        f.write("".join("\t".join(c) + "\n" for c in lines))
    os.rename(tmp, a.index)
    print("mutate: %d lines, %d revoked now, %d new" % (len(lines), len(revoked), a.new))


def compare(a):
    index, _ = read_index(a.index)
    lag = set()
    if os.path.exists(a.lagfile):
        with open(a.lagfile, encoding="ascii") as f:
            lag = {int(x, 16) for x in f.read().split()}
    bad = []
    seen = set()
    lagging = 0
    with open(a.store_lines, encoding="ascii") as f:
        for ln in f.read().splitlines():
            hexs, st, at, reason = ln.split()
            serial, at = int(hexs, 16), int(at)
            reason = None if reason == "-" else int(reason)
            seen.add(serial)
            if serial not in index:
                bad.append("%s: in the store, not in index.txt" % hexs)
                continue
            typ, iat, ireason = index[serial]
            if typ == "V":
                if st != "V":
                    bad.append("%s: index.txt says valid, the store %s" % (hexs, st))
            elif st == "V":
                if serial in lag and not a.exact:
                    lagging += 1
                else:
                    bad.append("%s: index.txt says revoked, the store says good" % hexs)
            else:
                want = "H" if ireason == 6 else "R"
                if st != want or at != iat or reason != ireason:
                    bad.append("%s: store %s %d %s, index.txt %s %d %s"
                               % (hexs, st, at, reason, want, iat, ireason))
    missing = len(set(index) - seen)
    if a.exact and missing:
        bad.append("%d index.txt lines not in the store after a complete sync" % missing)
    for b in bad[:20]:
        print("compare: " + b, file=sys.stderr)
    print("store %d, index %d, pending %d" % (len(seen), len(index), missing + lagging))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mutate")
    m.add_argument("index")
    m.add_argument("lagfile")
    m.add_argument("--seed", type=int, required=True)
    m.add_argument("--new", type=int, default=1000)
    m.add_argument("--revoke", type=int, default=200)
    c = sub.add_parser("compare")
    c.add_argument("index")
    c.add_argument("store_lines")
    c.add_argument("lagfile")
    c.add_argument("--exact", action="store_true")
    a = ap.parse_args()
    if a.cmd == "mutate":
        mutate(a)
        return 0
    return compare(a)


if __name__ == "__main__":
    sys.exit(main())
