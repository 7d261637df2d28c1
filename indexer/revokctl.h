/*
 * revokctl — the CA operator's command for revoking, holding and releasing one
 * certificate by hand (revokctl_main.c is the program; this is its library half,
 * so the tests run the code that ships). It writes the store directly, like the
 * indexer whose signer keys it shares: one LMDB write transaction holds the new
 * status, the change-log record crlgen follows, and both pre-signed responses, so
 * the responder answers the new status the moment revokctl returns.
 *
 * Every attempt that could change something is appended to the audit log (JSON
 * lines, fsync'd). A change is written as two lines with the same "op" id: an
 * "intent" line fsync'd *before* the store transaction commits, then a
 * "committed" (or "failed") line after it. So no change is ever unaudited: a crash
 * between the two leaves an intent without an outcome, and the certificate's
 * stored state (the intent line's "after" and change seq) says whether it
 * committed. SIGINT, SIGTERM, SIGHUP and SIGQUIT wait until the outcome is written.
 * Attempts that change nothing are one line: "unchanged" or "refused".
 *
 * The rules when sources disagree (docs/operations.md, "Revoking by hand"):
 * revoked wins over every other state and source; a hold is released only by the
 * source that set it, so revokctl releases only holds it set itself; a revocation
 * is never undone, and its reason only ever changes to keyCompromise.
 */
#ifndef REVOKD_REVOKCTL_H
#define REVOKD_REVOKCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "der.h"
#include "store.h"
#include "sync.h"

/* CRLReason values revokctl names (RFC 5280 5.3.1). */
#define REVOKCTL_REASON_KEY_COMPROMISE 1
#define REVOKCTL_REASON_HOLD           6
#define REVOKCTL_REASON_REMOVE         8

/* Longest --by or --comment accepted, bytes: an audit line stays one write. */
#define REVOKCTL_TEXT_MAX 512
/* Largest audit line written, bytes. */
#define REVOKCTL_LINE_MAX 4096

enum revokctl_cmd {
    REVOKCTL_REVOKE,
    REVOKCTL_HOLD,
    REVOKCTL_RELEASE,
    REVOKCTL_STATUS,
    REVOKCTL_LIST,
};

/* Exit codes of the program (also what revokctl_change() maps to). */
enum revokctl_exit {
    REVOKCTL_EXIT_OK = 0,      /* done, or nothing to do (already so) */
    REVOKCTL_EXIT_REFUSED = 1, /* refused by the rules, or failed: the message says which */
    REVOKCTL_EXIT_USAGE = 2,   /* bad arguments or configuration */
    REVOKCTL_EXIT_UNKNOWN = 3, /* status: the store does not know the serial */
};

/*
 * Parses an RFC 3339 date-time ("2026-11-30T12:00:00Z", "...T13:00:00.5+01:00";
 * 't'/'z' and a space for 'T' accepted) or a GeneralizedTime ("20261130120000Z",
 * fractions allowed) into Unix seconds (fractions are dropped: the store keeps
 * seconds). Years 1970-9999, real calendar days, seconds 00-59 (no leap second).
 * Returns 0 or -EINVAL.
 */
int revokctl_parse_time(const char *s, int64_t *out);

/* "2026-11-30T12:00:00Z". buf needs 21 bytes at least; returns buf. */
const char *revokctl_fmt_time(int64_t t, char *buf, size_t cap);

/* An RFC 5280 CRLReason name (case-insensitive) -> its value. Returns 0 or -EINVAL. */
int revokctl_parse_reason(const char *s, uint8_t *out);
/* The RFC 5280 name of a CRLReason, "none" for STORE_REASON_NONE, "?" if not one. */
const char *revokctl_reason_name(uint8_t reason);

/* "index", "revokctl", "crl", "certdir", "certmate", or "?". */
const char *revokctl_source_name(uint8_t source);
/* "good", "revoked", "on hold". */
const char *revokctl_status_name(uint8_t status);

/*
 * A serial as index.txt and `openssl x509 -serial` write it: hex, optionally with a
 * 0x prefix and ':' between bytes. Returns 0 or -EINVAL.
 */
int revokctl_parse_serial(const char *s, uint8_t out[DER_SERIAL_MAX], size_t *out_len);

/* What the operator asked for. */
struct revokctl_req {
    enum revokctl_cmd cmd;
    uint8_t reason;     /* revoke: CRLReason */
    int64_t time;       /* revoke/hold: revocation time; 0: now */
    int64_t invalidity; /* revoke: invalidity date; 0: none */
};

/*
 * Checks a request's times against now before anything is opened: a revocation
 * time or invalidity date in the future is refused, as is an invalidity date after
 * the revocation time. Returns 0, or -EINVAL with the reason in why.
 */
int revokctl_check_req(const struct revokctl_req *rq, int64_t now, char *why, size_t cap);

enum revokctl_verdict {
    REVOKCTL_CHANGE,    /* *after is the new state */
    REVOKCTL_UNCHANGED, /* already so: nothing to write */
    REVOKCTL_REFUSED,   /* the rules forbid it: why says which */
};

/*
 * The rules, without any I/O: given the stored state (before, NULL if the store
 * does not know the serial) decides what revoke/hold/release does. why gets a
 * sentence for the operator in every case (also on CHANGE: e.g. "was on hold").
 */
enum revokctl_verdict revokctl_decide(const struct revokctl_req *rq,
                                      const struct store_cert *before, int64_t now,
                                      struct store_cert *after, char *why, size_t cap);

/* Who ran the command, for the audit log. */
struct revokctl_who {
    unsigned uid;
    char user[64];      /* getpwuid(uid)'s name, "" if none */
    char sudo_user[64]; /* $SUDO_USER, "" if unset */
    char host[256];     /* gethostname() */
    const char *by;     /* --by, or NULL */
    const char *comment;
};

/* Fills who from the process: uid, user name, SUDO_USER, host name. */
void revokctl_who_init(struct revokctl_who *who);

/* One audit log line's content. */
struct revokctl_audit {
    int64_t when_ms;   /* Unix milliseconds */
    const char *op;    /* 16 hex digits shared by an intent line and its outcome */
    const char *phase; /* "intent", "committed", "failed", "unchanged", "refused" */
    const struct revokctl_who *who;
    const char *command; /* "revoke", "hold", "release" */
    const char *issuer;
    const char *serial; /* hex */
    const struct revokctl_req *req;
    const struct store_cert *before; /* NULL: unknown to the store */
    const struct store_cert *after;  /* NULL: no change */
    uint64_t seq;                    /* change seq of the write, 0 if none */
    const char *message;             /* why / error text, or NULL */
};

/*
 * Formats one audit line (a JSON object and "\n") into buf. Strings are escaped
 * as JSON wants; text that is not valid UTF-8 is refused by the caller before
 * (revokctl_text_ok). Returns the length, or -ENOSPC if it does not fit.
 */
int revokctl_audit_line(char *buf, size_t cap, const struct revokctl_audit *a);

/* True if s is valid UTF-8 of at most REVOKCTL_TEXT_MAX bytes (for --by, --comment). */
bool revokctl_text_ok(const char *s);

/*
 * The audit log's path: [indexer] audit_log, or audit.log in the directory that
 * holds the [store] path directory (/var/lib/revokd/audit.log by default): beside
 * the store, not inside it, so moving a store aside to rebuild it keeps the log.
 * Returns 0 or -ENAMETOOLONG.
 */
int revokctl_audit_path(const struct config *cfg, char *out, size_t cap);

/*
 * Revoke, hold or release one certificate of an issuer whose signer is loaded
 * (si): flock()s the audit log, decides under one store write transaction,
 * writes status + both responses, audits (intent, commit, outcome, as above) and
 * prints what happened to out (the operator's terminal). Returns an exit code
 * (enum revokctl_exit); errors are also printed to err.
 */
int revokctl_change(struct sync_issuer *si, struct store *store, const struct sync_params *p,
                    const char *audit_path, const struct revokctl_who *who,
                    const struct revokctl_req *rq, const uint8_t *serial, size_t serial_len,
                    FILE *out, FILE *err);

/*
 * The indexer's half: re-signs, when due, the responses of revoked and held
 * certificates that revokctl set and no other source lists (a serial revoked
 * before any source saw it), which no source sync walks. Walks the issuer's
 * revoked index (O(revoked)) in one write transaction; lowers
 * si->oldest_next_update to the earliest nextUpdate it leaves, so the indexer's
 * refresh clock wakes for them too. Does nothing while the signer cannot sign.
 * Returns the number of responses signed, or a negative errno.
 */
int revokctl_refresh(struct sync_issuer *si, struct store *store, const struct sync_params *p,
                     int64_t now);

/*
 * status: prints one certificate's stored state (text, or one JSON object) with
 * its sources and its responses' validity. Returns REVOKCTL_EXIT_OK, _UNKNOWN if
 * the store does not know the serial, _REFUSED on a store error.
 */
int revokctl_status(struct store *store, const char *issuer, const uint8_t *serial,
                    size_t serial_len, bool json, FILE *out, FILE *err);

/* list: every revoked and held (revoked_only) or every certificate of an issuer. */
int revokctl_list(struct store *store, const char *issuer, bool revoked_only, bool json, FILE *out,
                  FILE *err);

#endif
