/*
 * crl — builds an issuer's X.509 v2 CRL (RFC 5280 section 5) as hand-written DER
 * with the der.h writer, streaming the revoked entries straight from the store's
 * revoked index into the output buffer. Nothing holds a per-entry object, so the
 * cost of a CRL is its DER bytes plus one B-tree walk, which is what lets the
 * same loop later serve million-entry, delta and partitioned CRLs. The builder
 * never logs: it returns a negative errno and the run loop (main.c) says which
 * issuer and why.
 */
#ifndef REVOKD_CRL_H
#define REVOKD_CRL_H

#include <stdint.h>

#include "der.h"
#include "sign.h"
#include "store.h"

/* What one CRL covers and when; the caller picks the number and times. */
struct crl_params {
    uint32_t issuer_id;  /* store issuer whose revoked entries are listed */
    uint64_t number;     /* cRLNumber extension value */
    int64_t this_update; /* Unix seconds */
    int64_t next_update; /* Unix seconds, > this_update */
};

/*
 * Appends a signed full CRL (CertificateList DER) for p->issuer_id to w: every
 * entry of the issuer's revoked index, with reasonCode (omitted for no reason,
 * unspecified and removeFromCRL; certificateHold for entries on hold) and
 * invalidityDate when known, plus the Authority Key Identifier (ca->ski) and
 * CRL Number extensions. The CRL occupies w->buf from w->len on entry up to w->len on
 * return. ca must be the issuer's CA: its subject and public key must equal
 * those of the CA certificate in the issuer's store record.
 *
 * *n_entries (may be NULL) gets the number of revoked entries written. On
 * error w holds a partial value (possibly with constructions left open):
 * derw_reset() it before reuse.
 *
 * Returns 0, or a negative errno: -EINVAL bad params, -ENOENT no such issuer,
 * -EKEYREJECTED ca is not this issuer's CA, -EBADMSG a store record that cannot
 * go on a CRL (unparseable CA certificate, invalid reason, non-revoked entry in
 * the revoked index), -ENOMEM/-ENOSPC from the writer, or a store/sign error.
 */
int crl_build_full(struct derw *w, const struct signer *ca, struct store_txn *t,
                   const struct crl_params *p, uint64_t *n_entries);

#endif
