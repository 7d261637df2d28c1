/*
 * ocsp_resp — the response side of RFC 6960: builds and signs the OCSPResponse
 * for one SingleResponse. Only the indexer links it (it pre-signs every answer
 * ahead of any request); it is the one OCSP unit that calls signer_sign(), and
 * the responder must never reference it (tests/responder/check_no_signing.sh).
 *
 * ocsp_resp_build() writes into a struct derw the caller owns.
 */
#ifndef REVOKD_OCSP_RESP_H
#define REVOKD_OCSP_RESP_H

#include <stdint.h>

#include "der.h"
#include "ocsp_req.h"
#include "store.h"

struct signer;

/* One SingleResponse to pre-sign. */
struct ocsp_single {
    enum store_hash hash;
    const uint8_t *name_hash, *key_hash; /* store_hash_len(hash) bytes each */
    const uint8_t *serial;               /* INTEGER contents */
    size_t serial_len;
    enum store_status status;
    int64_t revoked_at; /* for revoked / on hold */
    uint8_t reason;     /* CRLReason or STORE_REASON_NONE; see ocsp_resp_build() */
    int64_t this_update, next_update;
};

/*
 * Appends a CertID (hashAlgorithm SHA-1 or SHA-256 with NULL parameters, the two
 * issuer hashes of store_hash_len(hash) bytes, the serial's INTEGER content): the
 * one writer for pre-signed and live-signed responses, so both echo a request's
 * CertID in the same bytes.
 */
void ocsp_resp_certid(struct derw *w, enum store_hash hash, const uint8_t *name_hash,
                      const uint8_t *key_hash, const uint8_t *serial, size_t serial_len);

/*
 * The revocationReason for a revoked or on-hold certificate from what the store
 * keeps (its status and reason byte), or STORE_REASON_NONE to omit it; the one
 * rule for pre-signed and live-signed responses, the same as crlgen's
 * reasonCode, so every channel says the same thing: on hold is always
 * certificateHold; unspecified (0) is expressed by omission (BR 7.2.2, 7.3);
 * removeFromCRL only belongs in delta CRLs (RFC 5280 5.3.1), and a released hold
 * is good, so a stored 8 (never written by today's indexer) is omitted rather
 * than sent. 7 and anything past 10 are not CRLReasons: -EINVAL.
 */
int ocsp_resp_reason(enum store_status status, uint8_t stored, uint8_t *reason);

/*
 * Builds a signed OCSPResponse (status successful, id-pkix-ocsp-basic) for one
 * SingleResponse: responderID byKey, producedAt, and the signer's certificate in
 * `certs`. Appends to w; returns 0 or a negative errno (w->err, or a signing error).
 * revocationReason follows the rules crlgen applies to reasonCode: on hold is
 * certificateHold; unspecified (0), removeFromCRL (8) and none are omitted; 1-5,
 * 9 and 10 as given; 7 or past 10 is -EINVAL. The caller picks this_update (the
 * indexer never sets it before revoked_at).
 */
int ocsp_resp_build(struct derw *w, const struct ocsp_single *s, int64_t produced_at,
                    const struct signer *sg);

/*
 * ocsp_resp_build() without the trailing `certs` field (ocsp_resp_certs()): every
 * enclosing length counts it, the bytes are left out, for
 * store_put_response_head(), which stores a response without them anyway.
 */
int ocsp_resp_build_head(struct derw *w, const struct ocsp_single *s, int64_t produced_at,
                         const struct signer *sg);

/*
 * The most bytes ocsp_resp_build_head() writes for sg (~700 for ECDSA P-256): a
 * buffer this size never gets -ENOSPC, and the indexer's batch of them stays small
 * enough to stay in cache between the signing threads and the writer.
 */
size_t ocsp_resp_head_max(const struct signer *sg);

/*
 * Appends the `certs` field every response of sg ends with: [0] { SEQUENCE {
 * signer certificate } }. It is the last field of every enclosing value, so a
 * response built by ocsp_resp_build() ends with exactly these bytes; the store
 * keeps them once per signer (store_put_signer) and each response without them.
 */
void ocsp_resp_certs(struct derw *w, const struct signer *sg);

#endif
