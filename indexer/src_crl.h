/*
 * src_crl — a revocation source for a CA whose only export is a CRL: the full
 * CRL at a file path, plus a delta CRL when one is configured. Both are checked
 * before a single entry is believed, and a CRL that fails any check is rejected
 * whole (the caller keeps the last good state and alarms): it must be signed by
 * the configured CA's key, name that CA as issuer, still be current (nextUpdate
 * present and in the future), be a direct CRL covering all reasons (no
 * indirectCRL, onlySomeReasons or onlyContainsAttributeCerts in its Issuing
 * Distribution Point, no certificateIssuer entry extension), and carry no
 * critical extension we do not process (RFC 5280 5.2, 5.3). A delta must carry a
 * Delta CRL Indicator whose BaseCRLNumber is at most the full CRL's number, and
 * its own CRL Number must be above it (RFC 5280 5.2.4); the full CRL must not be
 * a delta itself.
 *
 * Entries map to the store as the CA database's do: reasonCode -> reason (none
 * when absent), invalidityDate -> invalidity, certificateHold -> STORE_HOLD,
 * removeFromCRL -> released (STORE_GOOD). A CRL lists only revoked certificates,
 * so this source never says "good" for a serial it did not list as released; the
 * delta's entries replace the full CRL's for the same serial. Entries have
 * not_after 0 (a CRL does not carry expiry).
 *
 * Files are PEM or DER (one CRL each), at most SRC_CRL_FILE_MAX bytes.
 */
#ifndef REVOKD_SRC_CRL_H
#define REVOKD_SRC_CRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "source.h"

/* What was read, for logs, /metrics and the engine's next re-read. */
struct src_crl_info {
    uint64_t number;       /* full CRL's CRL Number (0 if absent or above 2^64-1) */
    uint64_t delta_number; /* delta's CRL Number, 0 without a delta */
    uint64_t delta_base;   /* delta's BaseCRLNumber */
    int64_t this_update;   /* full CRL's thisUpdate */
    int64_t next_update;   /* the earliest nextUpdate of full and delta: re-read or alarm then */
    uint64_t entries;      /* entries in full + delta */
};

/*
 * Reads full_path (and delta_path unless NULL), checks both against ca at time
 * now, and fills out (source STORE_SRC_CRL; entries sorted, one per serial).
 * name is the issuer's config name, for log lines. info may be NULL.
 * Returns 0, or a negative errno with the reason logged: -EBADMSG (unreadable,
 * bad signature, wrong issuer, unsupported scope, delta mismatch), -ESTALE
 * (nextUpdate passed or absent), or the file's errno. On error out is emptied.
 */
int src_crl_read(const char *name, const char *full_path, const char *delta_path, X509 *ca,
                 int64_t now, struct src_snapshot *out, struct src_crl_info *info);

/*
 * Decodes one CRL (PEM or DER) and maps its entries into out WITHOUT checking
 * signature, issuer or dates: the mapping half of src_crl_read(), for the fuzz
 * target and tests. Returns 0, or -EBADMSG when the CRL cannot be decoded, is
 * a delta when delta is false or not one when it is true, has an unsupported
 * scope, or an entry makes the whole CRL unusable (certificateIssuer, an unknown
 * critical extension); an entry that is merely unreadable counts in
 * out->malformed.
 */
int src_crl_parse(const uint8_t *buf, size_t len, bool delta, struct src_snapshot *out);

#endif
