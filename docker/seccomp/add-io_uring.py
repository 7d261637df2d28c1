#!/usr/bin/python3
"""add-io_uring.py — Docker's default seccomp profile plus io_uring, for revokd-responder.

Docker Engine 25 and later refuse io_uring_setup/enter/register in the default
profile; the responder then runs its libev backend (and says so in its log and in
/metrics revokd_backend_info). To keep io_uring, run the responder container with a
profile that is the engine's own default plus one rule allowing those three calls.

  add-io_uring.py DEFAULT.json > seccomp-revokd.json

DEFAULT.json is the default profile of the engine version you run (moby's
profiles/seccomp/default.json at that release tag). Every rule of it is kept as it
is; one rule is appended (none if io_uring is already allowed unconditionally). The
output is deterministic, so re-running on the same input gives the same file.
Exit 1 with a message if the input is not a seccomp profile in Docker's format.
"""

import json
import sys

IO_URING = ["io_uring_setup", "io_uring_enter", "io_uring_register"]


def allowed(profile, name):
    """True if an unconditional rule (no args, includes or excludes) allows name."""
    for rule in profile["syscalls"]:
        if (
            name in rule.get("names", [])
            and rule.get("action") == "SCMP_ACT_ALLOW"
            and not rule.get("args")
            and not rule.get("includes")
            and not rule.get("excludes")
        ):
            return True
    return False


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    try:
        with open(sys.argv[1], encoding="utf-8") as f:
            profile = json.load(f)
    except (OSError, ValueError) as e:
        print(f"add-io_uring: {sys.argv[1]}: {e}", file=sys.stderr)
        return 1
    if (
        not isinstance(profile, dict)
        or not isinstance(profile.get("syscalls"), list)
        or profile.get("defaultAction") not in ("SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS")
    ):
        print(f"add-io_uring: {sys.argv[1]}: not a deny-by-default Docker seccomp profile", file=sys.stderr)
        return 1
    missing = [n for n in IO_URING if not allowed(profile, n)]
    if missing:
        profile["syscalls"].append(
            {
                "names": missing,
                "action": "SCMP_ACT_ALLOW",
                "comment": "revokd-responder: io_uring backend (docker/seccomp/add-io_uring.py)",
            }
        )
    json.dump(profile, sys.stdout, indent="\t")
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
