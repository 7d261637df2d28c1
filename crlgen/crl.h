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
    /* Freshest CRL extension (RFC 5280 5.2.6): the URL where this issuer's
     * delta CRL is published, NUL-terminated, or NULL for none. */
    const char *freshest_url;
    /* Delta CRLs only (crl_build_delta): the BaseCRLNumber (the full CRL the
     * delta completes) and the change seq that full CRL covered. */
    uint64_t base;
    uint64_t base_seq;
    /* Partitioned CRLs: shard 1..shards lists only the serials crl_shard_of()
     * maps to it, and carries a critical Issuing Distribution Point naming
     * idp_url (5.2.5). shards 0 (and shard 0): the whole CRL, no IDP. */
    uint32_t shards;
    uint32_t shard;
    uint32_t span;
    const char *idp_url;
    /* The CA certificate (DER) whose name and key the store's issuer must
     * have, when the signer is a dedicated CRL-signing certificate the CA
     * issued ([issuer] crl_cert); NULL: the signer is the CA itself. */
    const uint8_t *ca_der;
    size_t ca_len;
};

/*
 * The shard (1..shards) of a serial (DER INTEGER content, non-negative):
 * (serial / span) mod shards, + 1. Serial ranges of span consecutive values
 * go round the shards, so sequential serials spread evenly in issuance
 * batches and random ones spread evenly too; a CA computes it from the serial
 * before issuing. No allocation: one pass of long division over the bytes.
 */
uint32_t crl_shard_of(const uint8_t *serial, size_t len, uint32_t span, uint32_t shards);

/* Longest URL accepted for freshest_url (it goes into one IA5String). */
#define CRL_URL_MAX 1024

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

/*
 * Appends a signed delta CRL (RFC 5280 5.2.4) for p->issuer_id to w: the
 * critical Delta CRL Indicator names p->base, and the entries are every
 * certificate of the issuer that changed after p->base_seq in the store's
 * change log, each listed once with its current state: revoked or on hold
 * as in the full CRL; good after being on hold (or revoked, then corrected
 * on purpose) as removeFromCRL with the time of that change. Certificates
 * that are good and were never listed (new issuance) are not listed. The
 * walk follows the change log, so its cost is the number of changes since
 * the base, not the size of the revoked set. p->base must be non-zero and
 * below p->number. Other fields, extensions and errors as crl_build_full().
 */
int crl_build_delta(struct derw *w, const struct signer *ca, struct store_txn *t,
                    const struct crl_params *p, uint64_t *n_entries);

/*
 * True if the issuer has a change in the change log after seq `after`
 * (1 stops the walk: this is one cursor step per foreign change). Returns 1,
 * 0, or a negative errno.
 */
int crl_issuer_changed(struct store_txn *t, uint32_t issuer_id, uint64_t after);

#endif
