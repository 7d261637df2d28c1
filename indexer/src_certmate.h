/*
 * src_certmate — a CertMate certificate store as a revocation source. CertMate
 * (its "Client Certificates" architecture document) keeps one directory per
 * certificate:
 *
 *   <root>/<usage>/<id>/cert.crt        the certificate (PEM)
 *   <root>/<usage>/<id>/metadata.json   {..., "serial_number": "<decimal>",
 *                                         "revocation": {"revoked": bool,
 *                                           "revoked_at": "ISO 8601" | null,
 *                                           "reason_revoked": "keyCompromise" | null}}
 *
 * with <root> its data/certs/client and <usage> e.g. api-mtls, vpn, other.
 * Each certificate becomes one entry: the serial and expiry from cert.crt
 * (checked against the CA: issuer name AND signature), the status from the
 * revocation block (revoked -> STORE_REVOKED with the reason and time;
 * reason certificateHold -> STORE_HOLD; not revoked -> STORE_GOOD).
 *
 * Fail closed: a certificate directory whose cert.crt or metadata.json is
 * missing or unreadable, whose metadata names another serial than cert.crt, or
 * whose certificate names our CA but does not verify, is skipped and counted in
 * out->malformed (the sync is partial: that certificate keeps its stored state).
 * A certificate of another CA counts in out->foreign. A revoked certificate whose
 * reason is not a CRLReason name is still revoked (no reason); one whose
 * revoked_at is null is revoked as of metadata.json's modification time.
 *
 * metadata.json is parsed by a strict JSON reader of our own (RFC 8259: no
 * comments, no trailing commas, UTF-8 checked, nesting at most
 * SRC_META_DEPTH_MAX, at most SRC_META_MAX bytes, a key revokd reads repeated in the top
 * object or the revocation block rejected) that keeps only the fields above.
 */
#ifndef REVOKD_SRC_CERTMATE_H
#define REVOKD_SRC_CERTMATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "source.h"
#include "src_x509.h"

#define SRC_META_MAX       ((size_t)64 * 1024)
#define SRC_META_DEPTH_MAX 16
#define SRC_META_STR_MAX   128 /* longest string value kept (serial, time, reason) */

/* What revokd takes from one metadata.json. */
struct src_certmate_meta {
    bool has_serial;               /* "serial_number" present (string or number) */
    char serial[SRC_META_STR_MAX]; /* as written, NUL-terminated */
    bool revoked;                  /* revocation.revoked */
    bool has_revoked_at;           /* revocation.revoked_at is a time */
    int64_t revoked_at;            /* Unix seconds */
    uint8_t reason;                /* CRLReason, or STORE_REASON_NONE (null or absent) */
    bool reason_unknown;           /* reason_revoked is a string that names no CRLReason */
};

/*
 * Parses one metadata.json. Returns 0 with *m filled, or -EBADMSG: not strict
 * JSON, too big or too deep, no "revocation" object, "revoked" not a boolean,
 * revoked_at not null or an ISO 8601 time, a repeated key where it matters, or
 * a revocation time or reason on a certificate that says it is not revoked.
 */
int src_certmate_parse_meta(const char *buf, size_t len, struct src_certmate_meta *m);

/*
 * Parses an ISO 8601 date-time as Python writes it: "YYYY-MM-DDTHH:MM:SS"
 * (or a space for T), optional fraction, then "Z", "+HH:MM", "-HH:MM" or
 * nothing (UTC). Returns 0 or -EBADMSG.
 */
int src_certmate_parse_time(const char *s, size_t n, int64_t *out);

/* Maximum certificate directories read per store (a wrong root must not read forever). */
#define SRC_CERTMATE_MAX 10000000u

/*
 * Reads every <root>/<usage>/<id>/ into out (source STORE_SRC_CERTMATE; sorted,
 * one entry per serial, revoked winning over a duplicate). cache (one per store,
 * kept across reads; may be NULL) spares re-verifying unchanged cert.crt files;
 * metadata.json is parsed on every read (it is what changes). Returns 0 (check
 * out->malformed), or a negative errno when root itself cannot be read; out is
 * then emptied.
 */
int src_certmate_read(const char *name, const char *root, X509 *ca, struct src_cache *cache,
                      struct src_snapshot *out);

#endif
