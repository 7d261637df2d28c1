#!/usr/bin/env python3
"""synth-index.py — writes a synthetic OpenSSL CA database (index.txt) of N
certificates for revokd's scale benchmarks.

    bench/synth-index.py --n N --out FILE [--base index.txt]
                         [--revoked-fraction 0.02] [--seed 1]

Lines are what `openssl ca` writes (type, expiry, revocation, serial, filename,
subject, TAB-separated):
  - the lines of --base first (the demo PKI's real certificates, so good.pem and
    revoked.pem stay in the set), then synthetic lines up to N in total;
  - V lines expire two years from now (UTCTime, as OpenSSL writes before 2050);
  - about --revoked-fraction of the synthetic lines are R, revoked on a date in
    the past year with a CRLReason OpenSSL writes;
  - serials are distinct 63-bit numbers that look random (i * an odd constant
    mod 2^62, top bits 01), 16 upper-case hex digits: a real CA's serials are
    random too, so store keys land all over the B-tree, not in append order.

Deterministic for a given --seed and clock day, so two runs build the same set.
Written in chunks: 10M lines take ~15 s and little memory.
"""
import argparse
import datetime
import random
import sys

REASONS = ("unspecified", "keyCompromise", "CACompromise", "affiliationChanged",
           "superseded", "cessationOfOperation")
MULT = 0x9E3779B97F4A7C15  # odd, so i -> i*MULT mod 2^62 is a bijection
MASK = (1 << 62) - 1


def utctime(t):
    return t.strftime("%y%m%d%H%M%SZ")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, required=True, help="certificates in total")
    ap.add_argument("--out", required=True)
    ap.add_argument("--base", help="index.txt whose lines go first")
    ap.add_argument("--revoked-fraction", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    base = []
    if a.base:
        with open(a.base, encoding="ascii") as f:
            base = [ln for ln in f.read().splitlines() if ln.strip()]
    if a.n < len(base):
        sys.exit(f"synth-index: --n {a.n} is less than the {len(base)} base lines")

    rng = random.Random(a.seed)
    # whole days, so the file does not depend on the second it was written
    today = datetime.datetime.now(datetime.timezone.utc).replace(
        hour=0, minute=0, second=0, microsecond=0)
    expiry = utctime(today + datetime.timedelta(days=730))
    # a small pool of past revocation dates is enough and keeps the loop cheap
    revdates = [utctime(today - datetime.timedelta(days=d, hours=h))
                for d in range(1, 365, 7) for h in (3, 11)]

    n_rev = 0
    with open(a.out, "w", encoding="ascii", newline="\n") as out:
        for ln in base:
            out.write(ln + "\n")
        chunk = []
        for i in range(a.n - len(base)):
            serial = "%016X" % ((((i + 1) * MULT) & MASK) | (1 << 62))
            subj = f"/O=revokd bench/CN=c{i}.synth.revokd.test"
            if rng.random() < a.revoked_fraction:
                rev = f"{rng.choice(revdates)},{rng.choice(REASONS)}"
                chunk.append(f"R\t{expiry}\t{rev}\t{serial}\tunknown\t{subj}\n")
                n_rev += 1
            else:
                chunk.append(f"V\t{expiry}\t\t{serial}\tunknown\t{subj}\n")
            if len(chunk) >= 65536:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
    print(f"synth-index: {a.out}: {a.n} lines ({len(base)} base, "
          f"{a.n - len(base) - n_rev} V, {n_rev} R synthetic)", file=sys.stderr)


if __name__ == "__main__":
    main()
