/*
 * store — revokd's one LMDB environment: the contract between the indexer (the
 * only writer of certificate state and OCSP responses), crlgen (writes CRLs) and
 * the responder (read-only, memory-mapped). docs/store.md is the prose version
 * of this header; change both together and bump STORE_SCHEMA_VERSION.
 *
 * Named databases (keys are big-endian so B-tree order is numeric order):
 *   meta        "schema" -> u32 version
 *   issuers     u32 issuer_id -> struct store_issuer_rec + CA certificate DER
 *   issuer_hash u8 hash | nameHash | keyHash -> u32 issuer_id (both hash algorithms)
 *   certs       u32 issuer_id | serial -> struct store_cert
 *   revoked     u32 issuer_id | serial -> struct store_cert (revoked/on hold only; crlgen walks it)
 *   responses   u8 hash | nameHash | keyHash | serial -> struct store_resp_hdr + OCSPResponse DER
 *               without its trailing certs field (the signer's block, kept once in signers)
 *   signers     u32 signer_id -> struct store_signer_hdr + certs field DER ([0] { Certificate })
 *   changes     u64 seq -> struct store_change_hdr + serial (append-only change log)
 *   crls        u32 issuer_id | u8 kind | u16 shard -> struct store_crl_hdr + CRL DER
 *
 * The responses key is the request's CertID itself, so answering an OCSP request
 * is one B-tree get built from the request bytes, and a certificate of another CA
 * that shares a serial can never match: the issuer's hashes are part of the key.
 *
 * Values are native-endian fixed structs (LMDB files are not portable across
 * architectures anyway) followed by variable bytes. Pointers returned by getters
 * point into the map and stay valid until their transaction ends. LMDB aligns
 * values only to 2 bytes, so every struct read in place is STORE_PACKED
 * (alignment 1): the compiler then emits loads that are safe at any address.
 *
 * Ownership: store_open() returns a store the caller frees with store_close().
 * A struct store_txn belongs to one thread; read txns may be reset/renewed to
 * see new commits without allocating (one read txn per batch in the responder).
 */
#ifndef REVOKD_STORE_H
#define REVOKD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION 3
#define STORE_NAME_MAX       64 /* issuer name: [A-Za-z0-9._-], from the config section */
#define STORE_SERIAL_MAX     32 /* serial INTEGER content bytes (RFC 5280 allows 20) */
#define STORE_HASH_MAX       32 /* largest CertID hash we keep (SHA-256) */
#define STORE_ETAG_LEN       16 /* leading bytes of SHA-256 of a stored response or CRL */

/* What a program prints when store_open() returns -EPROTO (schema mismatch). */
#define STORE_SCHEMA_HINT                                                                          \
    "the store was written by another revokd version (schema mismatch): move it aside and "        \
    "rebuild it with `revokd-indexer -c CONFIG --once` (docs/store.md, \"Upgrading\")"

/* CertID hash algorithms; the numbers are stored in keys and must never change. */
enum store_hash { STORE_HASH_SHA1 = 1, STORE_HASH_SHA256 = 2 };

/* Certificate status; stored. On hold is revoked with reason certificateHold. */
enum store_status { STORE_GOOD = 0, STORE_REVOKED = 1, STORE_HOLD = 2 };

/*
 * Where a status came from; stored, never renumbered. An issuer may have several
 * sources; store_cert.listed has bit (1u << source) set for each source that lists
 * the certificate, so one that drops out of every source can be found.
 */
enum store_source {
    STORE_SRC_INDEX = 1,    /* OpenSSL CA database (index.txt) */
    STORE_SRC_REVOKCTL = 2, /* operator command (revokctl), with an audit log line */
    STORE_SRC_CRL = 3,      /* an external CA's CRL (full + delta) */
    STORE_SRC_CERTDIR = 4,  /* a directory of issued certificates (PEM or DER) */
    STORE_SRC_CERTMATE = 5, /* a CertMate certificate store (cert.crt + metadata.json) */
};
#define STORE_SRC_BIT(src) ((uint8_t)(1u << (src)))

#define STORE_REASON_KEY_COMPROMISE 1    /* CRLReason keyCompromise */
#define STORE_REASON_NONE           0xff /* no reasonCode (CRLReason values are 0..10) */

/* For structs read in place from the map (see above). */
#define STORE_PACKED __attribute__((packed))

/* CRL kinds in the crls key. */
enum store_crl_kind { STORE_CRL_FULL = 0, STORE_CRL_DELTA = 1 };

/* The indexer's health record of an issuer, rewritten after every sync attempt. */
struct store_issuer_sync {
    int64_t failed_at;         /* 0 if the last sync was complete; else when it failed */
    uint32_t malformed;        /* source lines the last sync could not read */
    uint32_t unrevoke_refused; /* certs the source no longer lists as revoked: kept revoked */
    int32_t error;             /* positive errno of the last failure, 0 if none */
    uint32_t signer_problem;   /* STORE_SIGNER_* bits: why responses cannot be (re-)signed */
    int64_t signer_not_after;  /* delegated OCSP signer certificate expiry */
    int64_t ca_not_after;      /* issuing CA certificate expiry */
} STORE_PACKED;

/* crlgen's health record of an issuer, rewritten after every CRL run. */
struct store_issuer_crlstat {
    uint64_t skipped;  /* runs that kept the previous CRL: the last sync was not complete */
    uint64_t failures; /* runs that failed for any other reason */
    int64_t failed_at; /* 0 if the last run published; else when it failed or was skipped */
} STORE_PACKED;

/*
 * The indexer's expiry census of an issuer's certificates (docs/store.md,
 * "Expiry"): how many that are not revoked (good or on hold) are past their
 * notAfter, and how many expire within 7, 30 and 90 days from computed_at. The
 * windows are cumulative (within_90d counts those within_30d too) and exclude
 * the expired. Also the expiry of the certificates that sign for the issuer,
 * with the warning threshold, so /metrics can flag them without the config.
 * Rewritten after a sync that changed something and at least hourly.
 */
struct store_issuer_expiry {
    int64_t computed_at; /* when counted, Unix seconds; 0: never */
    uint64_t expired;    /* not revoked, notAfter <= computed_at */
    uint64_t within_7d;  /* not revoked, computed_at < notAfter <= computed_at + 7 days */
    uint64_t within_30d;
    uint64_t within_90d;
    int64_t crl_signer_not_after; /* certificate that signs the CRLs; 0: no CRL */
    int64_t warn_before;          /* [indexer] signer_warn, seconds */
} STORE_PACKED;

struct store_issuer_rec {
    uint32_t id;
    uint32_t cert_len; /* CA certificate DER follows the struct */
    char name[STORE_NAME_MAX];
    uint8_t name_sha1[20], key_sha1[20];
    uint8_t name_sha256[32], key_sha256[32];
    uint64_t crl_number; /* last CRL number issued (crlgen) */
    uint64_t crl_seq;    /* change seq covered by that CRL (delta CRLs start here) */
    int64_t synced_at;   /* last complete indexer sync, Unix seconds */
    /* Health, shown on the responder's /healthz and /metrics (docs/store.md "Health"). */
    struct store_issuer_sync sync;       /* written by the indexer */
    struct store_issuer_crlstat crlstat; /* written by crlgen */
    struct store_issuer_expiry expiry;   /* written by the indexer; not health */
} STORE_PACKED;

/* store_issuer_sync.signer_problem bits. */
#define STORE_SIGNER_NOT_YET_VALID 0x1 /* now < notBefore */
#define STORE_SIGNER_EXPIRED       0x2 /* now > notAfter */
#define STORE_SIGNER_NO_NOCHECK    0x4 /* lacks id-pkix-ocsp-nocheck and policy requires it */

struct store_cert {
    uint8_t status;     /* enum store_status */
    uint8_t reason;     /* CRLReason, or STORE_REASON_NONE */
    uint8_t source;     /* enum store_source that set the current status */
    uint8_t listed;     /* STORE_SRC_BIT() of every source that lists the certificate */
    uint32_t signed_tu; /* thisUpdate of its stored responses, Unix s; 0: unknown (re-sign) */
    uint32_t signer;    /* signers id of its stored responses (0: the CA's own, or none) */
    int64_t revoked_at; /* Unix seconds; 0 when good */
    int64_t invalidity; /* invalidity date (key compromise time); 0 if none */
    int64_t not_after;  /* certificate expiry */
    uint64_t seq;       /* change seq of the last change to this entry */
} STORE_PACKED;

/*
 * Header of a pre-signed response value. The OCSPResponse DER follows, without
 * its last field when signer != 0: the BasicOCSPResponse's `certs` ([0] with the
 * delegated signer's certificate), which is the same for every response of that
 * signer and is kept once in the signers database. The outer lengths in the
 * stored bytes already count it, so stored bytes + that block = the full DER.
 */
struct store_resp_hdr {
    uint32_t version; /* 2 */
    uint32_t der_len; /* bytes stored after this header */
    uint32_t signer;  /* signers id of the block that completes the DER; 0: stored whole */
    int64_t this_update;
    int64_t next_update;
    int64_t produced_at;
    uint8_t etag[STORE_ETAG_LEN]; /* names the bytes sent; set by store_put_response() */
} STORE_PACKED;

/* Header of a signers value: the certs field DER (the block responses end with) follows. */
struct store_signer_hdr {
    uint32_t len;          /* block bytes */
    uint8_t sha256[32];    /* of the block: found by content when registered */
    int64_t registered_at; /* when store_put_signer() first stored it */
} STORE_PACKED;

/* One change-log record: a certificate's status changed (or first appeared). */
struct store_change_hdr {
    uint32_t issuer_id;
    uint8_t old_status; /* enum store_status, or 0xff when the entry is new */
    uint8_t new_status;
    uint8_t reason;
    uint8_t serial_len; /* serial bytes follow */
    int64_t at;         /* when the change was recorded, Unix seconds */
} STORE_PACKED;

struct store_crl_hdr {
    uint32_t version; /* 1 */
    uint32_t der_len;
    uint64_t number; /* CRL Number */
    uint64_t base;   /* delta CRLs: BaseCRLNumber; 0 for full */
    int64_t this_update;
    int64_t next_update;
    uint8_t etag[STORE_ETAG_LEN]; /* SHA-256(DER) prefix, set by store_put_crl() */
} STORE_PACKED;

struct store;

struct store_txn {
    struct store *s;
    void *txn; /* MDB_txn */
    bool rdonly;
    uint64_t next_seq; /* write txns: next change seq, 0 until first looked up */
    /* Read txns: the last signer block looked up, valid for this snapshot only
     * (nearly every response of a store shares one signer). store_txn_reset()
     * keeps it and store_txn_renew() drops it unless the renewed txn sees the same
     * snapshot (txn id) at the same map address, so a responder looks the block up
     * once per commit of the indexer, not once per batch. */
    uint32_t sig_id; /* 0: none cached; write txns cache only sig_len (sig NULL) */
    const uint8_t *sig;
    size_t sig_len;
    size_t sig_txnid;    /* the snapshot sig points into */
    const void *sig_map; /* the map's address then */
};

/* flags for store_open */
#define STORE_RDONLY 0x1
/* No readahead on the map (MDB_NORDAHEAD): the indexer reads scattered pages. */
#define STORE_NORDAHEAD 0x2

/*
 * Opens (creating if absent and not STORE_RDONLY) the environment in directory
 * `path` with a map of map_size bytes. Checks the schema version. Returns 0 or a
 * negative errno (-EPROTO on a schema mismatch).
 */
int store_open(struct store **out, const char *path, uint64_t map_size, unsigned flags);
void store_close(struct store *s);

/*
 * Unmaps the map pages this process has touched (MADV_DONTNEED on the read-only
 * shared map: the page cache keeps them, a later access maps them again). The
 * indexer's walk over the certs B-tree, whose pages lie between the responses',
 * would otherwise keep every page the kernel maps around each fault (64 KB of
 * neighbours a fault: 1.2 GB of file-backed RSS at 1M certificates).
 */
void store_release_pages(struct store *s);

int store_txn_begin(struct store *s, struct store_txn *t, bool rdonly);
int store_txn_commit(struct store_txn *t);
void store_txn_abort(struct store_txn *t);
/* Read txns only: release the snapshot, then take a fresh one (no allocation). */
void store_txn_reset(struct store_txn *t);
int store_txn_renew(struct store_txn *t);

/*
 * A read-only view into the map, valid until the txn ends. The response DER is
 * der[0..der_len) followed by tail[0..tail_len) (the signer's certs block; none
 * when tail_len is 0): send both, in that order, for the bytes that were signed.
 */
struct store_resp {
    const struct store_resp_hdr *hdr;
    const uint8_t *der;
    size_t der_len;
    const uint8_t *tail;
    size_t tail_len;
};

/*
 * The responder's hot path: one get keyed by the request's CertID, plus the
 * signer block it names (cached in read txns, so once per signer per snapshot).
 * Returns 0, -ENOENT, or another negative errno (-EPROTO: a malformed value, or
 * a signer block that is missing: never answer with a response cut short).
 */
int store_get_response(struct store_txn *t, enum store_hash hash, const uint8_t *name_hash,
                       const uint8_t *key_hash, const uint8_t *serial, size_t serial_len,
                       struct store_resp *out);

/*
 * Writes (replaces) the pre-signed response for one CertID and computes its ETag.
 * With signer != 0 (an id from store_put_signer()), der must end with exactly
 * that signer's block, which is then not stored with it (-EINVAL if it does not:
 * a response can never be served with another signer's certificate appended).
 * The ETag of a successful BasicOCSPResponse stored against a signer is SHA-256
 * over the signer id, signatureAlgorithm and signature (docs/store.md: that
 * names the exact bytes); of anything else, SHA-256 of the full DER. signer 0
 * stores der whole.
 */
int store_put_response(struct store_txn *t, enum store_hash hash, const uint8_t *name_hash,
                       const uint8_t *key_hash, const uint8_t *serial, size_t serial_len,
                       int64_t this_update, int64_t next_update, int64_t produced_at,
                       const uint8_t *der, size_t der_len, uint32_t signer);

/*
 * store_put_response() for a response built without its signer's block
 * (ocsp_resp_build_head(): the indexer's import, where copying ~450 certificate
 * bytes into every response and comparing them back was measurable): head is the
 * DER up to the signature, its enclosing lengths counting the block. Instead of
 * comparing bytes, the store checks that every enclosing length ends exactly
 * where signer's block would (-EINVAL otherwise, or for signer 0).
 */
int store_put_response_head(struct store_txn *t, enum store_hash hash, const uint8_t *name_hash,
                            const uint8_t *key_hash, const uint8_t *serial, size_t serial_len,
                            int64_t this_update, int64_t next_update, int64_t produced_at,
                            const uint8_t *head, size_t head_len, uint32_t signer);

/*
 * Registers a signer block (the certs field a response ends with) and gives its
 * id in *id_out: the existing id if the same bytes are stored already, else a
 * new one. Blocks are never rewritten, so a response stored against an id keeps
 * its bytes; a rotated-out signer's block stays as long as the store (a few
 * hundred bytes per rotation). Returns 0 or a negative errno.
 */
int store_put_signer(struct store_txn *t, const uint8_t *block, size_t len, uint32_t *id_out);
/* The block of signer id; *block points into the map. -ENOENT if none. */
int store_get_signer(struct store_txn *t, uint32_t id, const uint8_t **block, size_t *len);

/*
 * Deletes the pre-signed response for one CertID, so the responder answers
 * unauthorized rather than serve a status that is no longer true (the indexer,
 * when a status changed and it cannot sign). Returns 0, also if there was none.
 */
int store_del_response(struct store_txn *t, enum store_hash hash, const uint8_t *name_hash,
                       const uint8_t *key_hash, const uint8_t *serial, size_t serial_len);

/* Size in bytes of the CertID hash of `hash` (20 or 32), 0 if unknown. */
size_t store_hash_len(enum store_hash hash);

/*
 * Adds or updates the issuer named rec->name (matched by name). On insert a new
 * id is assigned; on update only the identity (name, hashes, certificate) is
 * taken from rec: CRL bookkeeping, sync time and health stay as stored.
 * Also (re)writes both issuer_hash entries. *id_out gets the id.
 */
int store_put_issuer(struct store_txn *t, const struct store_issuer_rec *rec,
                     const uint8_t *cert_der, size_t cert_len, uint32_t *id_out);
/* Finds an issuer by name or id; *rec and *cert point into the map. -ENOENT if none. */
int store_get_issuer_by_name(struct store_txn *t, const char *name,
                             const struct store_issuer_rec **rec, const uint8_t **cert);
int store_get_issuer(struct store_txn *t, uint32_t id, const struct store_issuer_rec **rec,
                     const uint8_t **cert);
int store_issuer_by_hash(struct store_txn *t, enum store_hash hash, const uint8_t *name_hash,
                         const uint8_t *key_hash, uint32_t *id_out);
/* Updates only the CRL bookkeeping fields of an issuer. */
int store_set_issuer_crl(struct store_txn *t, uint32_t id, uint64_t crl_number, uint64_t crl_seq);
int store_set_issuer_synced(struct store_txn *t, uint32_t id, int64_t at);
/* Replaces the indexer's health record of an issuer (rec->sync). */
int store_set_issuer_sync(struct store_txn *t, uint32_t id, const struct store_issuer_sync *s);
/* Replaces crlgen's health record of an issuer (rec->crlstat). */
int store_set_issuer_crlstat(struct store_txn *t, uint32_t id,
                             const struct store_issuer_crlstat *s);
/* Replaces the indexer's expiry census of an issuer (rec->expiry). */
int store_set_issuer_expiry(struct store_txn *t, uint32_t id, const struct store_issuer_expiry *e);
/* True if the issuer is healthy: last sync complete, no refused un-revocation, signer usable. */
bool store_issuer_healthy(const struct store_issuer_rec *rec);
/* Calls fn for each issuer in id order; stops early when fn returns non-zero (returned). */
int store_issuer_foreach(struct store_txn *t,
                         int (*fn)(void *arg, const struct store_issuer_rec *rec,
                                   const uint8_t *cert),
                         void *arg);

/* Reads one certificate's status. -ENOENT if the CA database never listed it. */
int store_get_cert(struct store_txn *t, uint32_t issuer_id, const uint8_t *serial,
                   size_t serial_len, struct store_cert *out);

/*
 * Writes one certificate's status as source c->source states it. If the status
 * differs from the stored one (status, reason, revocation time or invalidity
 * date) or is new, appends a change record and stamps c->seq; keeps the revoked
 * index in step. Returns 1 if the status changed, 0 if not (listed, not_after or
 * signed_tu may still have been rewritten), or a negative errno. On return *c is
 * what the store holds (store_cert_merge()).
 *
 * Precedence when sources disagree (docs/store.md "Sources"), applied here because
 * every writer (sync, revokctl, --unrevoke) passes through:
 *   - revoked wins over hold and good, whatever the source: a good or hold from a
 *     source other than the one that revoked is not written (the revocation
 *     stands) and is no alarm; a revoked from another source keeps the first
 *     revocation's details;
 *   - a hold is released (good) only by the source that set it (store_cert.source);
 *     another source saying good leaves it on hold; a hold never overrides a
 *     revocation;
 *   - a revocation is never undone (RFC 5280 3.3): when the source that revoked
 *     now says good or hold, nothing is written, *c gets the stored state and
 *     -EPERM is returned so the caller can alarm. store_correct_cert() is the one
 *     deliberate way past this guard.
 * listed: a source other than STORE_SRC_REVOKCTL (an operator statement, not a
 * list of issued certificates) adds its STORE_SRC_BIT; bits are cleared only by
 * store_unlist_cert(). not_after 0 (source does not know it) keeps the stored one.
 * signed_tu is written as the caller gives it (0 = responses to be re-signed).
 */
int store_put_cert(struct store_txn *t, uint32_t issuer_id, const uint8_t *serial,
                   size_t serial_len, struct store_cert *c, int64_t now);

/*
 * The precedence rule of store_put_cert() as a pure function: what the store
 * would hold after `in` is applied over `old` (NULL: none stored). Returns 0,
 * 1 (status changed) or -EPERM (the revoking source itself says good/hold: *out
 * is old). The sync engine uses it to sign the resulting state before writing.
 */
int store_cert_merge(const struct store_cert *old, const struct store_cert *in,
                     struct store_cert *out);

/* store_change_hdr.new_status of a certificate removed from the store. */
#define STORE_CHANGE_REMOVED 0xfe

/*
 * Source `src` no longer lists the certificate: clears its bit in listed. When no
 * source lists it any more and it is good (or when drop is true: expired past the
 * retention), removes it: certs entry, revoked entry and both pre-signed
 * responses, with a change record (new_status STORE_CHANGE_REMOVED), so the
 * responder answers unauthorized, never good. A revoked or held certificate
 * stays (a revocation is never undone) until dropped. Returns 1 if removed, 0 if
 * kept, -ENOENT if not stored, or another negative errno.
 */
int store_unlist_cert(struct store_txn *t, uint32_t issuer_id, const uint8_t *serial,
                      size_t serial_len, enum store_source src, bool drop, int64_t now);

/*
 * Like store_put_cert() without the un-revocation guard: for an operator
 * correcting a mistaken revocation on purpose (revokd-indexer --unrevoke).
 */
int store_correct_cert(struct store_txn *t, uint32_t issuer_id, const uint8_t *serial,
                       size_t serial_len, struct store_cert *c, int64_t now);

/*
 * Calls fn for each certificate of an issuer (revoked_only: only revoked/on hold),
 * in serial byte order. Stops early when fn returns non-zero (returned).
 */
int store_cert_foreach(struct store_txn *t, uint32_t issuer_id, bool revoked_only,
                       int (*fn)(void *arg, const uint8_t *serial, size_t serial_len,
                                 const struct store_cert *c),
                       void *arg);

/*
 * A cursor over one issuer's certificates in serial byte order, for a walk that
 * pauses between entries (the sync engine merges it with a source snapshot).
 * store_cert_iter_next() returns 1 with the serial (pointing into the map, valid
 * until the txn ends or the next call) and the state, 0 at the end, or a
 * negative errno.
 */
struct store_cert_iter {
    void *cur; /* MDB_cursor */
    uint8_t prefix[4];
    bool started;
};
int store_cert_iter_open(struct store_txn *t, uint32_t issuer_id, struct store_cert_iter *it);
int store_cert_iter_next(struct store_cert_iter *it, const uint8_t **serial, size_t *serial_len,
                         struct store_cert *c);
void store_cert_iter_close(struct store_cert_iter *it);

/* Highest change seq written so far (0 if none). */
int store_last_seq(struct store_txn *t, uint64_t *seq);
/* Calls fn for each change with seq > after, in order. */
int store_changes_foreach(struct store_txn *t, uint64_t after,
                          int (*fn)(void *arg, uint64_t seq, const struct store_change_hdr *h,
                                    const uint8_t *serial),
                          void *arg);

/* Writes (replaces) one CRL; hdr->etag is ignored and computed from der. */
int store_put_crl(struct store_txn *t, uint32_t issuer_id, enum store_crl_kind kind, uint16_t shard,
                  const struct store_crl_hdr *hdr, const uint8_t *der);
int store_get_crl(struct store_txn *t, uint32_t issuer_id, enum store_crl_kind kind, uint16_t shard,
                  const struct store_crl_hdr **hdr, const uint8_t **der);
/*
 * store_put_crl() for a CRL too large to hold twice: reserves the value, lets
 * fill(arg, dst, hdr->der_len) write the DER straight into the store's page
 * (so the caller may release its own copy as it goes), then computes the ETag
 * from the stored bytes. A negative return from fill is returned (the txn must
 * then be aborted).
 */
int store_put_crl_fill(struct store_txn *t, uint32_t issuer_id, enum store_crl_kind kind,
                       uint16_t shard, const struct store_crl_hdr *hdr,
                       int (*fill)(void *arg, uint8_t *dst, size_t len), void *arg);

/* Entry counts and bytes in use, for /metrics and bench/ (bytes per certificate). */
struct store_stats {
    uint64_t issuers, certs, revoked, responses, changes, crls, signers;
    uint64_t map_used_bytes, map_size_bytes;
};
int store_stats(struct store_txn *t, struct store_stats *out);

/*
 * Faults the used part of the map into this process's page tables
 * (MADV_POPULATE_READ, Linux 5.14; else MADV_WILLNEED and a read of one byte
 * per page), so the first requests after a start do not each pay page faults
 * and, on a cold page cache, disk reads. Blocks until done: run it on a thread
 * of its own. *bytes gets the length covered. Returns 0 or a negative errno.
 */
int store_warm(struct store *s, uint64_t *bytes);

#endif
