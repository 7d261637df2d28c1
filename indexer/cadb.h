/*
 * cadb — parser of OpenSSL CA databases (the `index.txt` that `openssl ca`
 * maintains), the indexer's only source of certificate state. It turns text into
 * struct cadb_entry values the indexer writes to the store, and does no I/O: the
 * indexer reads or maps the file and hands over the bytes, which are untrusted
 * (anyone able to write the CA directory controls them), so every read is bounded
 * by the given length and nothing is copied except the decoded serial.
 *
 * Format (OpenSSL's TXT_DB with the six columns apps/ca.c defines), one
 * certificate per line, fields separated by TAB ("\<TAB>" is a TAB inside a field,
 * as TXT_DB writes it; it stays escaped in the spans returned here):
 *
 *   type  expiry  revocation  serial  filename  subject
 *
 *   type        V (valid), R (revoked) or E (expired, set by `openssl ca -updatedb`)
 *   expiry      UTCTime "YYMMDDHHMMSSZ" or GeneralizedTime "YYYYMMDDHHMMSSZ"
 *   revocation  empty unless R: "date[,reason[,arg]]" (apps/ca.c make_revocation_str)
 *   serial      hex, normally upper case with an even number of digits
 *   filename    "unknown" in practice; ignored
 *   subject     X509_NAME_oneline() text, e.g. "/CN=host/O=Acme"; may be empty
 *
 * Reasons are CRLReason names matched case-insensitively (OpenSSL writes them as in
 * cadb.c's table), plus OpenSSL's forms with an argument: "holdInstruction,OID"
 * (certificateHold), "keyTime,TIME" (keyCompromise with an invalidity date) and
 * "CAkeyTime,TIME" (cACompromise with an invalidity date).
 *
 * What `openssl ca` writes is accepted whole (apps/ca.c do_body, do_revoke,
 * make_revocation_str): serial "00" (it writes zero that way when its serial file
 * says 00) and negative serials ("-0A", BN_bn2hex of a foreign certificate given to
 * -revoke or -valid), both flagged in cadb_entry.flags so the caller can warn
 * (RFC 5280 4.1.2.2 asks users to handle them gracefully); the expiry column as
 * the certificate carries it; and OpenSSL's non-strict time forms wherever it
 * writes a time it took from elsewhere: seconds omitted ("YYMMDDHHMMZ"),
 * fractional seconds in GeneralizedTime, and "+hhmm"/"-hhmm" offsets (the
 * -crl_compromise argument is only checked by ASN1_GENERALIZEDTIME_set_string()).
 *
 * Where this parser differs from OpenSSL's own reader, it is on purpose:
 *   - blank lines (and a lone "\r") are skipped; OpenSSL refuses the whole file;
 *   - a last line without "\n" is a line; OpenSSL silently drops it (and with it a
 *     revocation);
 *   - a trailing "\r" is stripped (files edited on Windows);
 *   - odd-length serials are accepted; GeneralizedTime is accepted for the
 *     revocation date (OpenSSL writes it from 2050 on but cannot read it back);
 *   - a 12-digit keyTime/CAkeyTime date is read as UTCTime "YYMMDDHHMMSS"
 *     (OpenSSL reads it as a GeneralizedTime without seconds, e.g. year 2611);
 *   - removeFromCRL means "released from hold" (RFC 5280 5.3.1): the entry is
 *     GOOD, not revoked; OpenSSL lists it in its CRL with that reason;
 *   - privilegeWithdrawn and AACompromise are accepted (OpenSSL cannot write them);
 *   - control characters other than TAB anywhere in a line are rejected.
 * Like OpenSSL: lines starting with '#' are skipped, and an argument after a plain
 * reason ("keyCompromise,x") is ignored.
 */
#ifndef REVOKD_CADB_H
#define REVOKD_CADB_H

#include <stddef.h>
#include <stdint.h>

#include "der.h"
#include "store.h"

/* Longest line accepted, in bytes, without its "\n" or "\r\n". Real lines are
 * ~100 bytes; the bound keeps a corrupt file from being taken as one giant entry. */
#define CADB_LINE_MAX ((size_t)64 * 1024)

/* Columns per line (apps/ca.c DB_NUMBER). */
#define CADB_FIELDS 6

/*
 * One certificate as the CA database lists it. Spans point into the caller's
 * buffer and live as long as it does; they are not NUL-terminated.
 */
struct cadb_entry {
    enum store_status status;       /* V, E: GOOD; R: REVOKED, HOLD for certificateHold,
                                       GOOD for removeFromCRL (a released hold) */
    uint8_t reason;                 /* CRLReason 0..10, or STORE_REASON_NONE ("R" with no reason) */
    char type;                      /* 'V', 'R' or 'E' as written; E is still GOOD, see not_after */
    int64_t not_after;              /* expiry, Unix seconds */
    int64_t revoked_at;             /* revocation date, Unix seconds; 0 unless R */
    int64_t invalidity;             /* keyTime/CAkeyTime date, Unix seconds; 0 if none */
    uint8_t serial[DER_SERIAL_MAX]; /* DER INTEGER content, minimal and positive */
    size_t serial_len;              /* 1..DER_SERIAL_MAX; passes der_serial_check() */
    const char *subject;            /* subject column, raw text; may be empty */
    size_t subject_len;
    const char *hold_oid; /* holdInstruction argument as written (dotted OID or an OpenSSL */
    size_t hold_oid_len;  /* name such as "holdInstructionReject"); NULL/0 otherwise */
    unsigned flags;       /* CADB_F_* */
};

/* cadb_entry.flags: accepted, but worth a warning in the caller's log. */
#define CADB_F_SERIAL_ZERO     0x1 /* serial 0 (RFC 5280 4.1.2.2: must be positive) */
#define CADB_F_SERIAL_NEGATIVE 0x2 /* negative serial: DER two's complement in serial[] */
#define CADB_F_RELEASED        0x4 /* "R" line with removeFromCRL: a released hold, GOOD */

/*
 * Parses one line, given without its "\n" (a trailing "\r" is stripped).
 * Returns 0 and fills *out; 1 if the line holds no entry (blank, or a '#'
 * comment), or -EBADMSG if it is malformed. *out is written only when 0 is
 * returned.
 */
int cadb_parse_line(const char *line, size_t len, struct cadb_entry *out);

/*
 * Parses a serial as the serial column holds it (hex, optional leading '-') into
 * DER INTEGER content; *flags gets CADB_F_SERIAL_*. For --unrevoke's argument,
 * so the command line and index.txt name a certificate the same way.
 * Returns 0 or -EBADMSG.
 */
int cadb_parse_serial(const char *hex, size_t n, uint8_t out[DER_SERIAL_MAX], size_t *out_len,
                      unsigned *flags);

/* Walks a whole database buffer line by line. Treat the fields as private. */
struct cadb_iter {
    const char *p; /* start of the next line */
    size_t left;   /* bytes from p to the end of the buffer */
    unsigned line; /* number of the last line read, 1-based */
};

/* Starts iterating over buf[0..len); buf may be NULL when len is 0. */
void cadb_iter_init(struct cadb_iter *it, const char *buf, size_t len);

/*
 * Reads up to and including the next line that is an entry or malformed,
 * skipping lines cadb_parse_line() calls blank. Returns 1 with *out filled, 0 at
 * the end of the buffer, or -EBADMSG for a malformed line. On 1 and -EBADMSG,
 * *lineno (if not NULL) gets that line's 1-based number, for the caller's log
 * message. Iteration may continue after -EBADMSG; whether to skip the line or
 * reject the whole file is the caller's policy.
 */
int cadb_next(struct cadb_iter *it, struct cadb_entry *out, unsigned *lineno);

#endif
