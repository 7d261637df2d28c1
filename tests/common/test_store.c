/*
 * Tests for common/store: what the indexer writes is what the responder and
 * crlgen read back, across transactions and a read-only reopen; status changes
 * (and only changes) land in the change log and the revoked index; the response
 * lookup is keyed by issuer hashes and serial together.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <openssl/sha.h>

#include "der.h"
#include "store.h"

#define MAP (64u << 20)

static char *tmp_store(void)
{
    static char dir[64];
    strcpy(dir, "/tmp/revokd-store-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

static struct store_issuer_rec issuer(const char *name, uint8_t fill)
{
    struct store_issuer_rec r = {0};
    snprintf(r.name, sizeof(r.name), "%s", name);
    memset(r.name_sha1, fill, 20);
    memset(r.key_sha1, fill + 1, 20);
    memset(r.name_sha256, fill + 2, 32);
    memset(r.key_sha256, fill + 3, 32);
    return r;
}

Test(store, issuer_round_trip_and_lookup_by_hash)
{
    struct store *s;
    struct store_txn t;
    const char *dir = tmp_store();
    cr_assert_eq(store_open(&s, dir, MAP, 0), 0);
    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    struct store_issuer_rec a = issuer("alpha", 0x10), b = issuer("beta", 0x20);
    uint32_t ida, idb, again;
    cr_assert_eq(store_put_issuer(&t, &a, (const uint8_t *)"certA", 5, &ida), 0);
    cr_assert_eq(store_put_issuer(&t, &b, (const uint8_t *)"certB!", 6, &idb), 0);
    cr_assert_neq(ida, idb);
    cr_assert_eq(store_put_issuer(&t, &a, (const uint8_t *)"certA", 5, &again), 0);
    cr_assert_eq(again, ida, "re-registering by name keeps the id");
    cr_assert_eq(store_set_issuer_crl(&t, idb, 7, 42), 0);
    cr_assert_eq(store_txn_commit(&t), 0);
    store_close(s);

    cr_assert_eq(store_open(&s, dir, 0, STORE_RDONLY), 0);
    cr_assert_eq(store_txn_begin(s, &t, true), 0);
    const struct store_issuer_rec *r;
    const uint8_t *cert;
    cr_assert_eq(store_get_issuer_by_name(&t, "beta", &r, &cert), 0);
    cr_assert_eq(r->id, idb);
    cr_assert_eq(r->cert_len, 6);
    cr_assert_eq(memcmp(cert, "certB!", 6), 0);
    cr_assert_eq(r->crl_number, 7);
    cr_assert_eq(r->crl_seq, 42);
    cr_assert_eq(store_get_issuer_by_name(&t, "gamma", &r, &cert), -ENOENT);
    uint32_t id;
    cr_assert_eq(store_issuer_by_hash(&t, STORE_HASH_SHA1, a.name_sha1, a.key_sha1, &id), 0);
    cr_assert_eq(id, ida);
    cr_assert_eq(store_issuer_by_hash(&t, STORE_HASH_SHA256, b.name_sha256, b.key_sha256, &id), 0);
    cr_assert_eq(id, idb);
    /* Name hash of one issuer with the key hash of another is no issuer at all. */
    cr_assert_eq(store_issuer_by_hash(&t, STORE_HASH_SHA1, a.name_sha1, b.key_sha1, &id), -ENOENT);
    store_txn_abort(&t);
    store_close(s);
}

Test(store, cert_changes_are_logged_once)
{
    struct store *s;
    struct store_txn t;
    cr_assert_eq(store_open(&s, tmp_store(), MAP, 0), 0);
    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    const uint8_t serial[] = {0x00, 0x81, 0x02};
    struct store_cert c = {
        .status = STORE_GOOD, .reason = STORE_REASON_NONE, .source = 1, .not_after = 2000000000};
    cr_assert_eq(store_put_cert(&t, 1, serial, 3, &c, 100), 1, "new entry is a change");
    cr_assert_eq(c.seq, 1);
    cr_assert_eq(store_put_cert(&t, 1, serial, 3, &c, 101), 0, "same state is no change");
    c.status = STORE_REVOKED;
    c.reason = 1;
    c.revoked_at = 1900000000;
    cr_assert_eq(store_put_cert(&t, 1, serial, 3, &c, 102), 1);
    cr_assert_eq(c.seq, 2);
    cr_assert_eq(store_txn_commit(&t), 0);

    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    struct store_cert got;
    cr_assert_eq(store_get_cert(&t, 1, serial, 3, &got), 0);
    cr_assert_eq(got.status, STORE_REVOKED);
    cr_assert_eq(got.reason, 1);
    cr_assert_eq(got.revoked_at, 1900000000);
    cr_assert_eq(got.seq, 2);
    cr_assert_eq(store_get_cert(&t, 2, serial, 3, &got), -ENOENT, "other issuer, same serial");
    uint64_t last;
    cr_assert_eq(store_last_seq(&t, &last), 0);
    cr_assert_eq(last, 2);
    /* A revocation is never undone by a plain put: refused, nothing written. */
    c.status = STORE_GOOD;
    c.reason = STORE_REASON_NONE;
    c.revoked_at = 0;
    cr_assert_eq(store_put_cert(&t, 1, serial, 3, &c, 103), -EPERM);
    cr_assert_eq(c.status, STORE_REVOKED, "caller gets the stored state back");
    cr_assert_eq(c.seq, 2);
    cr_assert_eq(store_get_cert(&t, 1, serial, 3, &got), 0);
    cr_assert_eq(got.status, STORE_REVOKED);
    c.status = STORE_HOLD;
    c.reason = 6;
    cr_assert_eq(store_put_cert(&t, 1, serial, 3, &c, 103), -EPERM, "revoked -> hold is an undo");
    /* The deliberate correction leaves the revoked index. */
    c = (struct store_cert){
        .status = STORE_GOOD, .reason = STORE_REASON_NONE, .source = 1, .not_after = 2000000000};
    cr_assert_eq(store_correct_cert(&t, 1, serial, 3, &c, 103), 1);
    cr_assert_eq(c.seq, 3, "seq continues across transactions");
    cr_assert_eq(store_txn_commit(&t), 0);
    store_close(s);
}

Test(store, hold_is_released_and_etags_follow_bytes)
{
    struct store *s;
    struct store_txn t;
    cr_assert_eq(store_open(&s, tmp_store(), MAP, 0), 0);
    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    const uint8_t serial[] = {0x00}; /* serial 0: openssl ca issues it from a "00" serial file */
    struct store_cert c = {.status = STORE_HOLD, .reason = 6, .source = 1, .revoked_at = 5};
    cr_assert_eq(store_put_cert(&t, 1, serial, 1, &c, 100), 1);
    c = (struct store_cert){.status = STORE_GOOD, .reason = STORE_REASON_NONE, .source = 1};
    cr_assert_eq(store_put_cert(&t, 1, serial, 1, &c, 101), 1, "a hold may be released");

    static const uint8_t nh[20], kh[20];
    const uint8_t a[] = {1, 2, 3}, b[] = {1, 2, 4};
    struct store_resp ra, rb;
    cr_assert_eq(store_put_response(&t, STORE_HASH_SHA1, nh, kh, serial, 1, 1, 2, 3, a, 3, 0), 0);
    cr_assert_eq(store_get_response(&t, STORE_HASH_SHA1, nh, kh, serial, 1, &ra), 0);
    uint8_t ea[STORE_ETAG_LEN];
    memcpy(ea, ra.hdr->etag, sizeof(ea));
    /* Same times, other bytes (a good and a revoked answer signed in one second). */
    cr_assert_eq(store_put_response(&t, STORE_HASH_SHA1, nh, kh, serial, 1, 1, 2, 3, b, 3, 0), 0);
    cr_assert_eq(store_get_response(&t, STORE_HASH_SHA1, nh, kh, serial, 1, &rb), 0);
    cr_assert_neq(memcmp(ea, rb.hdr->etag, sizeof(ea)), 0, "different bytes, different ETag");
    cr_assert_eq(store_put_response(&t, STORE_HASH_SHA1, nh, kh, serial, 1, 7, 8, 9, a, 3, 0), 0);
    cr_assert_eq(store_get_response(&t, STORE_HASH_SHA1, nh, kh, serial, 1, &ra), 0);
    cr_assert_eq(memcmp(ea, ra.hdr->etag, sizeof(ea)), 0, "same bytes, same ETag");
    cr_assert_eq(store_txn_commit(&t), 0);
    store_close(s);
}

struct collect {
    int n;
    uint8_t last_serial[STORE_SERIAL_MAX];
    size_t last_len;
    uint64_t seqs[16];
    uint8_t old_status[16], new_status[16];
};

static int collect_cert(void *arg, const uint8_t *serial, size_t len, const struct store_cert *c)
{
    struct collect *k = arg;
    (void)c;
    memcpy(k->last_serial, serial, len);
    k->last_len = len;
    k->n++;
    return 0;
}

static int collect_change(void *arg, uint64_t seq, const struct store_change_hdr *h,
                          const uint8_t *serial)
{
    struct collect *k = arg;
    (void)serial;
    k->seqs[k->n] = seq;
    k->old_status[k->n] = h->old_status;
    k->new_status[k->n] = h->new_status;
    k->n++;
    return 0;
}

Test(store, revoked_index_and_change_log_iteration)
{
    struct store *s;
    struct store_txn t;
    cr_assert_eq(store_open(&s, tmp_store(), MAP, 0), 0);
    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    for (uint8_t i = 1; i <= 6; i++) {
        struct store_cert c = {.status = i % 2 ? STORE_REVOKED : STORE_GOOD,
                               .reason = STORE_REASON_NONE,
                               .revoked_at = i % 2 ? 1000 : 0};
        cr_assert_eq(store_put_cert(&t, 5, &i, 1, &c, 1), 1);
    }
    /* A revoked cert of another issuer must not appear in issuer 5's walk. */
    uint8_t x = 9;
    struct store_cert other = {.status = STORE_HOLD, .reason = 6, .revoked_at = 5};
    cr_assert_eq(store_put_cert(&t, 6, &x, 1, &other, 1), 1);
    cr_assert_eq(store_txn_commit(&t), 0);

    cr_assert_eq(store_txn_begin(s, &t, true), 0);
    struct collect k = {0};
    cr_assert_eq(store_cert_foreach(&t, 5, true, collect_cert, &k), 0);
    cr_assert_eq(k.n, 3);
    cr_assert_eq(k.last_serial[0], 5);
    memset(&k, 0, sizeof(k));
    cr_assert_eq(store_cert_foreach(&t, 5, false, collect_cert, &k), 0);
    cr_assert_eq(k.n, 6);
    memset(&k, 0, sizeof(k));
    cr_assert_eq(store_changes_foreach(&t, 4, collect_change, &k), 0);
    cr_assert_eq(k.n, 3);
    cr_assert_eq(k.seqs[0], 5);
    cr_assert_eq(k.seqs[2], 7);
    cr_assert_eq(k.old_status[2], 0xff);
    cr_assert_eq(k.new_status[2], STORE_HOLD);
    struct store_stats st;
    cr_assert_eq(store_stats(&t, &st), 0);
    cr_assert_eq(st.certs, 7);
    cr_assert_eq(st.revoked, 4);
    cr_assert_eq(st.changes, 7);
    cr_assert(st.map_used_bytes > 0 && st.map_used_bytes <= st.map_size_bytes);
    store_txn_abort(&t);
    store_close(s);
}

Test(store, response_key_includes_issuer_hashes)
{
    struct store *s;
    struct store_txn t;
    uint8_t nh[32], kh[32], other[32];
    memset(nh, 1, sizeof(nh));
    memset(kh, 2, sizeof(kh));
    memset(other, 3, sizeof(other));
    const uint8_t serial[] = {0x10, 0x01};
    cr_assert_eq(store_open(&s, tmp_store(), MAP, 0), 0);
    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    cr_assert_eq(store_put_response(&t, STORE_HASH_SHA1, nh, kh, serial, 2, 10, 20, 11,
                                    (const uint8_t *)"sha1-resp", 9, 0),
                 0);
    cr_assert_eq(store_put_response(&t, STORE_HASH_SHA256, nh, kh, serial, 2, 10, 20, 11,
                                    (const uint8_t *)"sha256-resp", 11, 0),
                 0);
    cr_assert_eq(store_txn_commit(&t), 0);

    cr_assert_eq(store_txn_begin(s, &t, true), 0);
    struct store_resp r;
    cr_assert_eq(store_get_response(&t, STORE_HASH_SHA1, nh, kh, serial, 2, &r), 0);
    cr_assert_eq(r.der_len, 9);
    cr_assert_eq(memcmp(r.der, "sha1-resp", 9), 0);
    cr_assert_eq(r.hdr->this_update, 10);
    cr_assert_eq(r.hdr->next_update, 20);
    cr_assert_eq(store_get_response(&t, STORE_HASH_SHA256, nh, kh, serial, 2, &r), 0);
    cr_assert_eq(memcmp(r.der, "sha256-resp", 11), 0);
    cr_assert_eq(store_get_response(&t, STORE_HASH_SHA1, other, kh, serial, 2, &r), -ENOENT);
    cr_assert_eq(store_get_response(&t, STORE_HASH_SHA1, nh, other, serial, 2, &r), -ENOENT);
    cr_assert_eq(store_get_response(&t, STORE_HASH_SHA1, nh, kh, serial, 1, &r), -ENOENT);
    cr_assert_eq(store_get_response(&t, 7, nh, kh, serial, 2, &r), -ENOENT);
    store_txn_abort(&t);
    store_close(s);
}

Test(store, reader_renew_sees_new_commits)
{
    struct store *w, *rd;
    struct store_txn wt, rt;
    const char *dir = tmp_store();
    uint8_t h[20] = {0};
    const uint8_t serial[] = {0x42};
    struct store_resp r;
    cr_assert_eq(store_open(&w, dir, MAP, 0), 0);
    cr_assert_eq(store_open(&rd, dir, 0, STORE_RDONLY), 0);
    cr_assert_eq(store_txn_begin(rd, &rt, true), 0);
    cr_assert_eq(store_get_response(&rt, STORE_HASH_SHA1, h, h, serial, 1, &r), -ENOENT);
    cr_assert_eq(store_txn_begin(w, &wt, false), 0);
    cr_assert_eq(store_put_response(&wt, STORE_HASH_SHA1, h, h, serial, 1, 1, 2, 1,
                                    (const uint8_t *)"x", 1, 0),
                 0);
    cr_assert_eq(store_txn_commit(&wt), 0);
    /* The old snapshot still does not see it; a renewed one does. */
    cr_assert_eq(store_get_response(&rt, STORE_HASH_SHA1, h, h, serial, 1, &r), -ENOENT);
    store_txn_reset(&rt);
    cr_assert_eq(store_txn_renew(&rt), 0);
    cr_assert_eq(store_get_response(&rt, STORE_HASH_SHA1, h, h, serial, 1, &r), 0);
    store_txn_abort(&rt);
    store_close(rd);
    store_close(w);
}

Test(store, crl_round_trip)
{
    struct store *s;
    struct store_txn t;
    cr_assert_eq(store_open(&s, tmp_store(), MAP, 0), 0);
    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    struct store_crl_hdr h = {
        .version = 1, .der_len = 4, .number = 3, .this_update = 5, .next_update = 6};
    cr_assert_eq(store_put_crl(&t, 1, STORE_CRL_FULL, 0, &h, (const uint8_t *)"CRL!"), 0);
    const struct store_crl_hdr *gh;
    const uint8_t *der;
    cr_assert_eq(store_get_crl(&t, 1, STORE_CRL_FULL, 0, &gh, &der), 0);
    cr_assert_eq(gh->number, 3);
    cr_assert_eq(memcmp(der, "CRL!", 4), 0);
    cr_assert_eq(store_get_crl(&t, 1, STORE_CRL_DELTA, 0, &gh, &der), -ENOENT);
    cr_assert_eq(store_get_crl(&t, 2, STORE_CRL_FULL, 0, &gh, &der), -ENOENT);
    store_txn_abort(&t);
    store_close(s);
}

Test(store, refuses_other_schema_version_and_missing_store)
{
    struct store *s;
    const char *dir = tmp_store();
    cr_assert_eq(store_open(&s, dir, MAP, 0), 0);
    store_close(s);
    /* Rewrite the schema version behind the store's back. */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 16);
    cr_assert_eq(mdb_env_open(env, dir, 0, 0644), 0);
    mdb_txn_begin(env, NULL, 0, &txn);
    cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    uint32_t v = STORE_SCHEMA_VERSION + 1;
    MDB_val k = {6, "schema"}, val = {4, &v};
    cr_assert_eq(mdb_put(txn, dbi, &k, &val, 0), 0);
    mdb_txn_commit(txn);
    mdb_env_close(env);
    cr_assert_eq(store_open(&s, dir, MAP, 0), -EPROTO);
    cr_assert_eq(store_open(&s, dir, 0, STORE_RDONLY), -EPROTO);
    cr_assert_lt(store_open(&s, "/nonexistent/revokd-store", 0, STORE_RDONLY), 0);
}

/* A full "response": stored bytes then the block; the store must give back exactly it. */
static void resp_join(const struct store_resp *r, uint8_t *out, size_t *len)
{
    memcpy(out, r->der, r->der_len);
    if (r->tail_len)
        memcpy(out + r->der_len, r->tail, r->tail_len);
    *len = r->der_len + r->tail_len;
}

Test(store, signer_block_is_kept_once_and_appended)
{
    struct store *s;
    struct store_txn t;
    const char *dir = tmp_store();
    static const uint8_t nh[20], kh[20];
    const uint8_t s1[] = {0x01}, s2[] = {0x02}, s3[] = {0x03};
    const uint8_t blk_a[] = "<block of signer A>", blk_b[] = "<block of signer B, longer>";
    uint8_t full_a[64], full_b[64], got[128];
    size_t len_a = 0, len_b = 0, got_len;
    memcpy(full_a, "resp-one|", 9);
    memcpy(full_a + 9, blk_a, sizeof(blk_a));
    len_a = 9 + sizeof(blk_a);
    memcpy(full_b, "resp-two!!|", 11);
    memcpy(full_b + 11, blk_b, sizeof(blk_b));
    len_b = 11 + sizeof(blk_b);

    cr_assert_eq(store_open(&s, dir, MAP, 0), 0);
    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    uint32_t ida, idb, again;
    cr_assert_eq(store_put_signer(&t, blk_a, sizeof(blk_a), &ida), 0);
    cr_assert_eq(store_put_signer(&t, blk_b, sizeof(blk_b), &idb), 0);
    cr_assert_eq(store_put_signer(&t, blk_a, sizeof(blk_a), &again), 0);
    cr_assert_neq(ida, 0);
    cr_assert_neq(ida, idb);
    cr_assert_eq(again, ida, "the same block is registered once");
    cr_assert_eq(
        store_put_response(&t, STORE_HASH_SHA1, nh, kh, s1, 1, 1, 2, 3, full_a, len_a, ida), 0);
    cr_assert_eq(
        store_put_response(&t, STORE_HASH_SHA1, nh, kh, s2, 1, 1, 2, 3, full_b, len_b, idb), 0);
    /* A response that does not end with its signer's block is refused, never stored. */
    cr_assert_eq(
        store_put_response(&t, STORE_HASH_SHA1, nh, kh, s3, 1, 1, 2, 3, full_a, len_a, idb),
        -EINVAL);
    cr_assert_eq(store_put_response(&t, STORE_HASH_SHA1, nh, kh, s3, 1, 1, 2, 3, full_a, len_a, 99),
                 -EINVAL, "unknown signer id");
    cr_assert_eq(
        store_put_response(&t, STORE_HASH_SHA1, nh, kh, s3, 1, 1, 2, 3, blk_a, sizeof(blk_a), ida),
        -EINVAL, "nothing left once the block is split off");
    cr_assert_eq(store_txn_commit(&t), 0);
    store_close(s);

    /* Read back through a read-only open, as the responder does, alternating signers so
     * the per-txn cache has to switch, and across a reset/renew. */
    cr_assert_eq(store_open(&s, dir, 0, STORE_RDONLY), 0);
    cr_assert_eq(store_txn_begin(s, &t, true), 0);
    struct store_resp r;
    uint8_t md[32];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3; i++) {
            bool a = i % 2 == 0;
            cr_assert_eq(store_get_response(&t, STORE_HASH_SHA1, nh, kh, a ? s1 : s2, 1, &r), 0);
            cr_assert_eq(r.hdr->version, 2);
            cr_assert_eq(r.hdr->signer, a ? ida : idb);
            cr_assert_eq(r.der_len, a ? 9u : 11u, "the block is not stored with the response");
            resp_join(&r, got, &got_len);
            cr_assert_eq(got_len, a ? len_a : len_b);
            cr_assert_arr_eq(got, a ? full_a : full_b, got_len);
            SHA256(a ? full_a : full_b, a ? len_a : len_b, md);
            cr_assert_arr_eq(r.hdr->etag, md, STORE_ETAG_LEN, "ETag over the full DER");
        }
        store_txn_reset(&t);
        cr_assert_eq(store_txn_renew(&t), 0);
    }
    cr_assert_eq(store_get_response(&t, STORE_HASH_SHA1, nh, kh, s3, 1, &r), -ENOENT);
    struct store_stats st;
    cr_assert_eq(store_stats(&t, &st), 0);
    cr_assert_eq(st.signers, 2);
    cr_assert_eq(st.responses, 2);
    store_txn_abort(&t);
    store_close(s);
}

/*
 * The responder renews one read txn per batch: the signer block it looked up
 * stays cached while no commit happened (same snapshot, same pages), and is
 * dropped by the first renew after a commit, whose snapshot may have freed it.
 */
Test(store, signer_cache_survives_renew_until_a_commit)
{
    struct store *w, *rd;
    struct store_txn wt, rt;
    const char *dir = tmp_store();
    static const uint8_t nh[20], kh[20];
    const uint8_t s1[] = {0x01}, s2[] = {0x02}, blk[] = "BLOCK", full[] = "respBLOCK";
    uint32_t id;
    struct store_resp r;
    cr_assert_eq(store_open(&w, dir, MAP, 0), 0);
    cr_assert_eq(store_txn_begin(w, &wt, false), 0);
    cr_assert_eq(store_put_signer(&wt, blk, 5, &id), 0);
    cr_assert_eq(store_put_response(&wt, STORE_HASH_SHA1, nh, kh, s1, 1, 1, 2, 3, full, 9, id), 0);
    cr_assert_eq(store_txn_commit(&wt), 0);

    cr_assert_eq(store_open(&rd, dir, 0, STORE_RDONLY), 0);
    cr_assert_eq(store_txn_begin(rd, &rt, true), 0);
    cr_assert_eq(store_get_response(&rt, STORE_HASH_SHA1, nh, kh, s1, 1, &r), 0);
    cr_assert_eq(rt.sig_id, id);
    const uint8_t *tail = r.tail;
    store_txn_reset(&rt);
    cr_assert_eq(store_txn_renew(&rt), 0);
    cr_assert_eq(rt.sig_id, id, "no commit since: the cached block still holds");
    cr_assert_eq(store_get_response(&rt, STORE_HASH_SHA1, nh, kh, s1, 1, &r), 0);
    cr_assert_eq(r.tail, tail);
    cr_assert_arr_eq(r.tail, blk, 5);
    store_txn_reset(&rt);

    cr_assert_eq(store_txn_begin(w, &wt, false), 0);
    cr_assert_eq(store_put_response(&wt, STORE_HASH_SHA1, nh, kh, s2, 1, 1, 2, 3, full, 9, id), 0);
    cr_assert_eq(store_txn_commit(&wt), 0);
    cr_assert_eq(store_txn_renew(&rt), 0);
    cr_assert_eq(rt.sig_id, 0u, "a commit happened: the cache is dropped");
    cr_assert_eq(store_get_response(&rt, STORE_HASH_SHA1, nh, kh, s2, 1, &r), 0);
    cr_assert_eq(r.tail_len, 5u);
    cr_assert_arr_eq(r.tail, blk, 5);
    cr_assert_eq(rt.sig_id, id);
    store_txn_abort(&rt);
    store_close(rd);
    store_close(w);
}

Test(store, response_whose_signer_block_is_missing_is_refused)
{
    struct store *s;
    struct store_txn t;
    const char *dir = tmp_store();
    static const uint8_t nh[20], kh[20];
    const uint8_t serial[] = {0x07}, blk[] = "BLOCK", full[] = "respBLOCK";
    uint32_t id;
    cr_assert_eq(store_open(&s, dir, MAP, 0), 0);
    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    cr_assert_eq(store_put_signer(&t, blk, 5, &id), 0);
    cr_assert_eq(store_put_response(&t, STORE_HASH_SHA1, nh, kh, serial, 1, 1, 2, 3, full, 9, id),
                 0);
    cr_assert_eq(store_txn_commit(&t), 0);
    store_close(s);
    /* Remove the block behind the store's back: the response must not go out cut short. */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 16);
    cr_assert_eq(mdb_env_open(env, dir, 0, 0644), 0);
    mdb_txn_begin(env, NULL, 0, &txn);
    cr_assert_eq(mdb_dbi_open(txn, "signers", 0, &dbi), 0);
    cr_assert_eq(mdb_drop(txn, dbi, 0), 0);
    mdb_txn_commit(txn);
    mdb_env_close(env);
    cr_assert_eq(store_open(&s, dir, 0, STORE_RDONLY), 0);
    cr_assert_eq(store_txn_begin(s, &t, true), 0);
    struct store_resp r;
    cr_assert_eq(store_get_response(&t, STORE_HASH_SHA1, nh, kh, serial, 1, &r), -EPROTO);
    store_txn_abort(&t);
    store_close(s);
}

/*
 * A store written by schema 2 (responses carrying the signer certificate, no
 * signers database) is refused by every kind of open, so a program prints
 * STORE_SCHEMA_HINT instead of misreading it, and the read-write open adds nothing.
 */
Test(store, refuses_schema_2_store)
{
    const char *dir = tmp_store();
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    static const char *const v2_dbs[] = {"meta",    "issuers",   "issuer_hash", "certs",
                                         "revoked", "responses", "changes",     "crls"};
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 16);
    cr_assert_eq(mdb_env_open(env, dir, 0, 0644), 0);
    mdb_txn_begin(env, NULL, 0, &txn);
    for (size_t i = 0; i < sizeof(v2_dbs) / sizeof(v2_dbs[0]); i++)
        cr_assert_eq(mdb_dbi_open(txn, v2_dbs[i], MDB_CREATE, &dbi), 0);
    cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    uint32_t v = 2;
    MDB_val k = {6, "schema"}, val = {4, &v};
    cr_assert_eq(mdb_put(txn, dbi, &k, &val, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    struct store *s;
    cr_assert_eq(store_open(&s, dir, 0, STORE_RDONLY), -EPROTO, "responder: schema 2 refused");
    cr_assert_eq(store_open(&s, dir, MAP, 0), -EPROTO, "indexer: schema 2 refused");
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 16);
    cr_assert_eq(mdb_env_open(env, dir, MDB_RDONLY, 0644), 0);
    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    cr_assert_eq(mdb_dbi_open(txn, "signers", 0, &dbi), MDB_NOTFOUND, "nothing was added");
    mdb_txn_abort(txn);
    mdb_env_close(env);
    cr_assert_not_null(strstr(STORE_SCHEMA_HINT, "revokd-indexer -c CONFIG --once"));
}

/*
 * A schema 3 store from before the responses were split by CertID hash algorithm
 * (SHA-256 responses under a hash byte in `responses`, no `responses256`) is
 * refused, not given an empty responses256 that would answer nothing; a store of
 * this layout whose `responses` is merely empty opens.
 */
Test(store, refuses_unsplit_schema_3_store)
{
    const char *dir = tmp_store();
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    static const char *const old_dbs[] = {"meta",    "issuers", "issuer_hash",
                                          "certs",   "revoked", "responses",
                                          "changes", "crls",    "signers"};
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 16);
    cr_assert_eq(mdb_env_open(env, dir, 0, 0644), 0);
    mdb_txn_begin(env, NULL, 0, &txn);
    for (size_t i = 0; i < sizeof(old_dbs) / sizeof(old_dbs[0]); i++)
        cr_assert_eq(mdb_dbi_open(txn, old_dbs[i], MDB_CREATE, &dbi), 0);
    cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    uint32_t v = STORE_SCHEMA_VERSION;
    MDB_val k = {6, "schema"}, val = {4, &v};
    cr_assert_eq(mdb_put(txn, dbi, &k, &val, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    struct store *s;
    cr_assert_eq(store_open(&s, dir, MAP, 0), 0, "empty responses: the new layout is created");
    store_close(s);
    cr_assert_eq(store_open(&s, dir, 0, STORE_RDONLY), 0);
    store_close(s);

    const char *old = tmp_store();
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 16);
    cr_assert_eq(mdb_env_open(env, old, 0, 0644), 0);
    mdb_txn_begin(env, NULL, 0, &txn);
    for (size_t i = 0; i < sizeof(old_dbs) / sizeof(old_dbs[0]); i++)
        cr_assert_eq(mdb_dbi_open(txn, old_dbs[i], MDB_CREATE, &dbi), 0);
    cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    cr_assert_eq(mdb_put(txn, dbi, &k, &val, 0), 0);
    cr_assert_eq(mdb_dbi_open(txn, "responses", 0, &dbi), 0);
    uint8_t key[1 + 64 + 1] = {2, [65] = 1}, resp[80] = {2};
    MDB_val rk = {sizeof(key), key}, rv = {sizeof(resp), resp};
    cr_assert_eq(mdb_put(txn, dbi, &rk, &rv, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    cr_assert_eq(store_open(&s, old, 0, STORE_RDONLY), -EPROTO, "responder: old layout refused");
    cr_assert_eq(store_open(&s, old, MAP, 0), -EPROTO, "indexer: old layout refused");
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 16);
    cr_assert_eq(mdb_env_open(env, old, MDB_RDONLY, 0644), 0);
    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    cr_assert_eq(mdb_dbi_open(txn, "responses256", 0, &dbi), MDB_NOTFOUND, "nothing was added");
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

Test(store, warm_covers_the_used_map)
{
    struct store *s;
    struct store_txn t;
    const char *dir = tmp_store();
    cr_assert_eq(store_open(&s, dir, MAP, 0), 0);
    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    for (uint32_t i = 0; i < 2000; i++) {
        uint8_t serial[4] = {(uint8_t)(i >> 24) | 0x10, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
                             (uint8_t)i};
        struct store_cert c = {.status = STORE_GOOD, .reason = STORE_REASON_NONE};
        cr_assert_geq(store_put_cert(&t, 1, serial, 4, &c, 1), 0);
    }
    cr_assert_eq(store_txn_commit(&t), 0);
    store_close(s);
    cr_assert_eq(store_open(&s, dir, 0, STORE_RDONLY), 0);
    cr_assert_eq(store_txn_begin(s, &t, true), 0);
    struct store_stats st;
    cr_assert_eq(store_stats(&t, &st), 0);
    store_txn_abort(&t);
    uint64_t bytes;
    cr_assert_eq(store_warm(s, &bytes), 0);
    cr_assert_eq(bytes, st.map_used_bytes);
    cr_assert_gt(bytes, 2000u * 8);
    store_close(s);
}

/* ---- precedence between sources (store_put_cert) and unlisting ---- */

static struct store_cert stmt(enum store_status st, enum store_source src, int64_t at)
{
    struct store_cert c = {.status = (uint8_t)st,
                           .reason = st == STORE_GOOD   ? STORE_REASON_NONE
                                     : st == STORE_HOLD ? 6
                                                        : 1,
                           .source = (uint8_t)src,
                           .revoked_at = st == STORE_GOOD ? 0 : at,
                           .not_after = 2000000000};
    return c;
}

static int put(struct store_txn *t, uint32_t id, uint8_t serial, enum store_status st,
               enum store_source src, int64_t at, struct store_cert *out)
{
    struct store_cert c = stmt(st, src, at);
    int rc = store_put_cert(t, id, &serial, 1, &c, 1000);
    if (out)
        *out = c;
    return rc;
}

Test(store, revoked_wins_whatever_the_source)
{
    struct store *s;
    struct store_txn t;
    struct store_cert c;
    cr_assert_eq(store_open(&s, tmp_store(), MAP, 0), 0);
    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    cr_assert_eq(put(&t, 1, 0x01, STORE_REVOKED, STORE_SRC_INDEX, 500, NULL), 1);
    /* Another source saying good is not an un-revocation attempt: no alarm, kept. */
    cr_assert_eq(put(&t, 1, 0x01, STORE_GOOD, STORE_SRC_CERTDIR, 0, &c), 0);
    cr_assert_eq(c.status, STORE_REVOKED);
    cr_assert_eq(c.revoked_at, 500);
    cr_assert_eq(c.listed, STORE_SRC_BIT(STORE_SRC_INDEX) | STORE_SRC_BIT(STORE_SRC_CERTDIR),
                 "both sources list it");
    cr_assert_eq(put(&t, 1, 0x01, STORE_HOLD, STORE_SRC_CERTMATE, 600, &c), 0);
    cr_assert_eq(c.status, STORE_REVOKED, "a hold never overrides a revocation");
    /* A revocation from another source keeps the first one's details. */
    cr_assert_eq(put(&t, 1, 0x01, STORE_REVOKED, STORE_SRC_CRL, 900, &c), 0);
    cr_assert_eq(c.revoked_at, 500);
    cr_assert_eq(c.source, STORE_SRC_INDEX);
    /* The revoking source itself saying good: refused, for the caller's alarm. */
    cr_assert_eq(put(&t, 1, 0x01, STORE_GOOD, STORE_SRC_INDEX, 0, &c), -EPERM);
    cr_assert_eq(c.status, STORE_REVOKED);
    cr_assert_eq(put(&t, 1, 0x01, STORE_HOLD, STORE_SRC_INDEX, 700, &c), -EPERM);
    /* ... and it may restate its own revocation (a corrected reason or date). */
    cr_assert_eq(put(&t, 1, 0x01, STORE_REVOKED, STORE_SRC_INDEX, 400, &c), 1);
    cr_assert_eq(c.revoked_at, 400);

    /* A hold (from any source) is overridden by a revocation from any other. */
    cr_assert_eq(put(&t, 1, 0x02, STORE_HOLD, STORE_SRC_INDEX, 500, NULL), 1);
    cr_assert_eq(put(&t, 1, 0x02, STORE_REVOKED, STORE_SRC_REVOKCTL, 800, &c), 1);
    cr_assert_eq(c.status, STORE_REVOKED);
    cr_assert_eq(c.source, STORE_SRC_REVOKCTL);
    cr_assert_eq(put(&t, 1, 0x02, STORE_GOOD, STORE_SRC_INDEX, 0, &c), 0,
                 "index.txt did not revoke it: its good is no alarm");
    cr_assert_eq(c.status, STORE_REVOKED);
    cr_assert_eq(put(&t, 1, 0x02, STORE_GOOD, STORE_SRC_REVOKCTL, 0, &c), -EPERM);
    store_txn_abort(&t);
    store_close(s);
}

Test(store, hold_is_released_only_by_its_source)
{
    struct store *s;
    struct store_txn t;
    struct store_cert c;
    cr_assert_eq(store_open(&s, tmp_store(), MAP, 0), 0);
    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    cr_assert_eq(put(&t, 1, 0x03, STORE_GOOD, STORE_SRC_INDEX, 0, NULL), 1);
    cr_assert_eq(put(&t, 1, 0x03, STORE_HOLD, STORE_SRC_REVOKCTL, 500, &c), 1);
    cr_assert_eq(c.listed, STORE_SRC_BIT(STORE_SRC_INDEX), "an operator command is not a listing");
    /* index.txt still says valid: the hold stays. */
    cr_assert_eq(put(&t, 1, 0x03, STORE_GOOD, STORE_SRC_INDEX, 0, &c), 0);
    cr_assert_eq(c.status, STORE_HOLD);
    cr_assert_eq(c.source, STORE_SRC_REVOKCTL);
    /* A hold from another source does not take the hold over either. */
    cr_assert_eq(put(&t, 1, 0x03, STORE_HOLD, STORE_SRC_INDEX, 600, &c), 0);
    cr_assert_eq(c.source, STORE_SRC_REVOKCTL);
    cr_assert_eq(c.revoked_at, 500);
    /* The source that held it releases it. */
    cr_assert_eq(put(&t, 1, 0x03, STORE_GOOD, STORE_SRC_REVOKCTL, 0, &c), 1);
    cr_assert_eq(c.status, STORE_GOOD);
    struct store_cert got;
    cr_assert_eq(store_get_cert(&t, 1, (const uint8_t *)"\x03", 1, &got), 0);
    cr_assert_eq(got.status, STORE_GOOD);
    /* Two sources agreeing on good do not rewrite the entry: the first stays its source. */
    cr_assert_eq(put(&t, 1, 0x04, STORE_GOOD, STORE_SRC_INDEX, 0, NULL), 1);
    cr_assert_eq(put(&t, 1, 0x04, STORE_GOOD, STORE_SRC_CERTDIR, 0, &c), 0);
    cr_assert_eq(c.source, STORE_SRC_INDEX);
    uint64_t seq0, seq1;
    cr_assert_eq(store_last_seq(&t, &seq0), 0);
    cr_assert_eq(put(&t, 1, 0x04, STORE_GOOD, STORE_SRC_CERTDIR, 0, NULL), 0);
    cr_assert_eq(store_last_seq(&t, &seq1), 0);
    cr_assert_eq(seq0, seq1, "no change record");
    store_txn_abort(&t);
    store_close(s);
}

static int last_change(void *arg, uint64_t seq, const struct store_change_hdr *h,
                       const uint8_t *serial)
{
    (void)seq;
    (void)serial;
    *(struct store_change_hdr *)arg = *h;
    return 0;
}

Test(store, unlisted_good_is_removed_revoked_stays)
{
    struct store *s;
    struct store_txn t;
    struct store_cert c;
    cr_assert_eq(store_open(&s, tmp_store(), MAP, 0), 0);
    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    struct store_issuer_rec r = issuer("unl", 0x40);
    uint32_t id;
    cr_assert_eq(store_put_issuer(&t, &r, (const uint8_t *)"c", 1, &id), 0);
    uint8_t g = 0x05, v = 0x06;
    cr_assert_eq(put(&t, id, g, STORE_GOOD, STORE_SRC_INDEX, 0, NULL), 1);
    cr_assert_eq(put(&t, id, g, STORE_GOOD, STORE_SRC_CERTDIR, 0, NULL), 0);
    cr_assert_eq(store_put_response(&t, STORE_HASH_SHA1, r.name_sha1, r.key_sha1, &g, 1, 1, 2, 1,
                                    (const uint8_t *)"resp", 4, 0),
                 0);
    cr_assert_eq(store_put_response(&t, STORE_HASH_SHA256, r.name_sha256, r.key_sha256, &g, 1, 1, 2,
                                    1, (const uint8_t *)"resp", 4, 0),
                 0);
    /* One source drops it: another still lists it, it stays good. */
    cr_assert_eq(store_unlist_cert(&t, id, &g, 1, STORE_SRC_INDEX, false, 1000), 0);
    cr_assert_eq(store_get_cert(&t, id, &g, 1, &c), 0);
    cr_assert_eq(c.listed, STORE_SRC_BIT(STORE_SRC_CERTDIR));
    /* The last one drops it: gone, with both responses, and logged. */
    cr_assert_eq(store_unlist_cert(&t, id, &g, 1, STORE_SRC_CERTDIR, false, 1000), 1);
    cr_assert_eq(store_get_cert(&t, id, &g, 1, &c), -ENOENT);
    struct store_resp resp;
    cr_assert_eq(store_get_response(&t, STORE_HASH_SHA1, r.name_sha1, r.key_sha1, &g, 1, &resp),
                 -ENOENT);
    cr_assert_eq(
        store_get_response(&t, STORE_HASH_SHA256, r.name_sha256, r.key_sha256, &g, 1, &resp),
        -ENOENT);
    struct store_change_hdr h;
    cr_assert_eq(store_changes_foreach(&t, 0, last_change, &h), 0);
    cr_assert_eq(h.new_status, STORE_CHANGE_REMOVED);
    cr_assert_eq(h.old_status, STORE_GOOD);
    /* A revoked one no source lists any more stays revoked (and in the revoked index). */
    cr_assert_eq(put(&t, id, v, STORE_REVOKED, STORE_SRC_INDEX, 500, NULL), 1);
    cr_assert_eq(store_unlist_cert(&t, id, &v, 1, STORE_SRC_INDEX, false, 1000), 0);
    cr_assert_eq(store_get_cert(&t, id, &v, 1, &c), 0);
    cr_assert_eq(c.status, STORE_REVOKED);
    cr_assert_eq(c.listed, 0);
    struct store_stats st;
    cr_assert_eq(store_stats(&t, &st), 0);
    cr_assert_eq(st.revoked, 1);
    /* ... until dropped (expired past retention). */
    cr_assert_eq(store_unlist_cert(&t, id, &v, 1, STORE_SRC_INDEX, true, 1000), 1);
    cr_assert_eq(store_get_cert(&t, id, &v, 1, &c), -ENOENT);
    cr_assert_eq(store_stats(&t, &st), 0);
    cr_assert_eq(st.revoked, 0);
    cr_assert_eq(store_unlist_cert(&t, id, &v, 1, STORE_SRC_INDEX, true, 1000), -ENOENT);
    store_txn_abort(&t);
    store_close(s);
}

Test(store, operator_may_only_raise_another_sources_revocation_to_key_compromise)
{
    struct store *s;
    struct store_txn t;
    cr_assert_eq(store_open(&s, tmp_store(), MAP, 0), 0);
    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    uint8_t serial = 0x07;
    struct store_cert c = stmt(STORE_REVOKED, STORE_SRC_INDEX, 500);
    c.reason = 4; /* superseded */
    cr_assert_eq(store_put_cert(&t, 1, &serial, 1, &c, 1000), 1);
    /* revokctl restating it with another reason (not keyCompromise): kept as it was. */
    c = stmt(STORE_REVOKED, STORE_SRC_REVOKCTL, 900);
    c.reason = 5;
    cr_assert_eq(store_put_cert(&t, 1, &serial, 1, &c, 1000), 0);
    cr_assert_eq(c.reason, 4);
    cr_assert_eq(c.source, STORE_SRC_INDEX);
    /* ... to keyCompromise: applied, the revocation time kept, revokctl now its source. */
    c = stmt(STORE_REVOKED, STORE_SRC_REVOKCTL, 900);
    c.reason = STORE_REASON_KEY_COMPROMISE;
    c.invalidity = 400;
    cr_assert_eq(store_put_cert(&t, 1, &serial, 1, &c, 1000), 1);
    cr_assert_eq(c.reason, STORE_REASON_KEY_COMPROMISE);
    cr_assert_eq(c.revoked_at, 500);
    cr_assert_eq(c.invalidity, 400);
    cr_assert_eq(c.source, STORE_SRC_REVOKCTL);
    /* index.txt restating its older reason does not undo it, and raises no alarm. */
    c = stmt(STORE_REVOKED, STORE_SRC_INDEX, 500);
    c.reason = 4;
    cr_assert_eq(store_put_cert(&t, 1, &serial, 1, &c, 1000), 0);
    cr_assert_eq(c.reason, STORE_REASON_KEY_COMPROMISE);
    store_txn_abort(&t);
    store_close(s);
}

/*
 * A BasicOCSPResponse shaped as the indexer builds it, by hand: ResponseData
 * (opaque here), signatureAlgorithm, signature, then the certs block. Writes the
 * full DER to full, and where the signature's TLVs begin (*sig_at) and end
 * (*head_len: the head store_put_response_head() takes).
 */
static size_t basic_resp(uint8_t *full, size_t cap, uint8_t status, uint8_t tbs_byte,
                         uint8_t sig_byte, const uint8_t *block, size_t block_len, size_t *sig_at,
                         size_t *head_len)
{
    static const uint8_t basic_oid[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01};
    static const uint8_t alg[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                  0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}; /* ecdsa-with-SHA256 */
    uint8_t tbs[40], sig[72];
    memset(tbs, tbs_byte, sizeof(tbs));
    memset(sig, sig_byte, sizeof(sig));
    struct derw w;
    derw_init_fixed(&w, full, cap);
    derw_open(&w, DER_SEQUENCE);
    derw_enum(&w, status);
    derw_open(&w, DER_CTX_CONS(0));
    derw_open(&w, DER_SEQUENCE);
    derw_oid(&w, basic_oid, sizeof(basic_oid));
    derw_open(&w, DER_OCTET_STRING);
    derw_open(&w, DER_SEQUENCE);
    derw_tlv(&w, DER_SEQUENCE, tbs, sizeof(tbs));
    *sig_at = w.len;
    derw_raw(&w, alg, sizeof(alg));
    derw_bitstring(&w, sig, sizeof(sig));
    *head_len = w.len;
    derw_raw(&w, block, block_len);
    for (int i = 0; i < 5; i++)
        derw_close(&w);
    cr_assert_eq(w.err, 0);
    /* derw_close() shrank the reserved lengths: find the offsets again. */
    *head_len = w.len - block_len;
    *sig_at = *head_len - sizeof(alg) - der_tlv_size(sizeof(sig) + 1);
    return w.len;
}

/* The ETag docs/store.md defines, computed independently of the store. */
static void sig_etag(uint32_t signer, const uint8_t *from, size_t n, uint8_t out[STORE_ETAG_LEN])
{
    uint8_t in[256], md[32];
    static const char label[] = "revokd sig ETag";
    memcpy(in, label, sizeof(label));
    in[sizeof(label)] = (uint8_t)(signer >> 24);
    in[sizeof(label) + 1] = (uint8_t)(signer >> 16);
    in[sizeof(label) + 2] = (uint8_t)(signer >> 8);
    in[sizeof(label) + 3] = (uint8_t)signer;
    cr_assert_leq(sizeof(label) + 4 + n, sizeof(in));
    memcpy(in + sizeof(label) + 4, from, n);
    SHA256(in, sizeof(label) + 4 + n, md);
    memcpy(out, md, STORE_ETAG_LEN);
}

Test(store, basic_response_etag_is_over_signer_and_signature)
{
    struct store *s;
    struct store_txn t;
    const char *dir = tmp_store();
    static const uint8_t nh[20], kh[20];
    const uint8_t s1[] = {0x01}, s2[] = {0x02}, s3[] = {0x03}, s4[] = {0x04};
    uint8_t blk_a[300], blk_b[300];
    memset(blk_a, 0xaa, sizeof(blk_a));
    memset(blk_b, 0xbb, sizeof(blk_b)); /* same length, other signer */
    uint8_t r1[512], r2[512], r3[512], want[STORE_ETAG_LEN];
    size_t at1, at2, at3, h1, h2, h3;
    size_t n1 = basic_resp(r1, sizeof(r1), 0, 0x11, 0x51, blk_a, sizeof(blk_a), &at1, &h1);
    /* Same ResponseData, another signature (ECDSA signs the same bytes differently). */
    size_t n2 = basic_resp(r2, sizeof(r2), 0, 0x11, 0x52, blk_a, sizeof(blk_a), &at2, &h2);
    size_t n3 = basic_resp(r3, sizeof(r3), 0, 0x11, 0x51, blk_b, sizeof(blk_b), &at3, &h3);
    cr_assert_eq(n1, h1 + sizeof(blk_a));
    cr_assert_eq(n3, h3 + sizeof(blk_b));
    cr_assert_eq(r1[at1], 0x30, "signatureAlgorithm found");
    cr_assert_eq(r1[h1 - der_tlv_size(73)], DER_BIT_STRING, "signature found");

    cr_assert_eq(store_open(&s, dir, MAP, 0), 0);
    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    uint32_t ida, idb;
    cr_assert_eq(store_put_signer(&t, blk_a, sizeof(blk_a), &ida), 0);
    cr_assert_eq(store_put_signer(&t, blk_b, sizeof(blk_b), &idb), 0);
    cr_assert_eq(store_put_response(&t, STORE_HASH_SHA1, nh, kh, s1, 1, 1, 2, 3, r1, n1, ida), 0);
    cr_assert_eq(store_put_response_head(&t, STORE_HASH_SHA1, nh, kh, s2, 1, 1, 2, 3, r1, h1, ida),
                 0);
    cr_assert_eq(store_put_response(&t, STORE_HASH_SHA1, nh, kh, s3, 1, 1, 2, 3, r2, n2, ida), 0);
    cr_assert_eq(store_put_response_head(&t, STORE_HASH_SHA1, nh, kh, s4, 1, 1, 2, 3, r3, h3, idb),
                 0);

    /* The head alone is refused when it is not what the block completes. */
    cr_assert_eq(store_put_response_head(&t, STORE_HASH_SHA1, nh, kh, s3, 1, 1, 2, 3, r1, h1, 0),
                 -EINVAL, "signer 0 has no block");
    cr_assert_eq(store_put_response_head(&t, STORE_HASH_SHA1, nh, kh, s3, 1, 1, 2, 3, r1, h1, 99),
                 -EINVAL, "unknown signer");
    cr_assert_eq(
        store_put_response_head(&t, STORE_HASH_SHA1, nh, kh, s3, 1, 1, 2, 3, r1, h1 - 1, ida),
        -EINVAL, "head cut short");
    cr_assert_eq(
        store_put_response_head(&t, STORE_HASH_SHA1, nh, kh, s3, 1, 1, 2, 3, r1, h1 + 1, ida),
        -EINVAL, "a byte after the signature");
    uint8_t blk_c[301];
    memset(blk_c, 0xcc, sizeof(blk_c));
    uint32_t idc;
    cr_assert_eq(store_put_signer(&t, blk_c, sizeof(blk_c), &idc), 0);
    cr_assert_eq(store_put_response_head(&t, STORE_HASH_SHA1, nh, kh, s3, 1, 1, 2, 3, r1, h1, idc),
                 -EINVAL, "lengths count a block of another size");
    uint8_t bad[512];
    size_t atb, hb;
    basic_resp(bad, sizeof(bad), 3, 0x11, 0x51, blk_a, sizeof(blk_a), &atb, &hb);
    cr_assert_eq(store_put_response_head(&t, STORE_HASH_SHA1, nh, kh, s3, 1, 1, 2, 3, bad, hb, ida),
                 -EINVAL, "not a successful response");
    memcpy(bad, r1, h1);
    size_t oid = 0;
    while (oid + 1 < h1 && !(bad[oid] == DER_OID && bad[oid + 1] == 9))
        oid++;
    cr_assert_lt(oid, 20u);
    bad[oid + 10] ^= 0x02; /* the OID's last arc: no longer id-pkix-ocsp-basic */
    cr_assert_eq(store_put_response_head(&t, STORE_HASH_SHA1, nh, kh, s3, 1, 1, 2, 3, bad, h1, ida),
                 -EINVAL, "not a BasicOCSPResponse");
    cr_assert_eq(store_txn_commit(&t), 0);

    cr_assert_eq(store_txn_begin(s, &t, true), 0);
    struct store_resp a, b, c, d;
    cr_assert_eq(store_get_response(&t, STORE_HASH_SHA1, nh, kh, s1, 1, &a), 0);
    cr_assert_eq(store_get_response(&t, STORE_HASH_SHA1, nh, kh, s2, 1, &b), 0);
    cr_assert_eq(store_get_response(&t, STORE_HASH_SHA1, nh, kh, s3, 1, &c), 0);
    cr_assert_eq(store_get_response(&t, STORE_HASH_SHA1, nh, kh, s4, 1, &d), 0);
    sig_etag(ida, r1 + at1, h1 - at1, want);
    cr_assert_arr_eq(a.hdr->etag, want, STORE_ETAG_LEN, "SHA-256 over label, signer, alg, sig");
    /* Full or head: the same stored bytes, block and ETag. */
    cr_assert_eq(a.der_len, h1);
    cr_assert_eq(b.der_len, h1);
    cr_assert_arr_eq(b.der, r1, h1);
    cr_assert_eq(b.tail_len, sizeof(blk_a));
    cr_assert_arr_eq(b.tail, blk_a, sizeof(blk_a));
    cr_assert_arr_eq(b.hdr->etag, a.hdr->etag, STORE_ETAG_LEN);
    /* Another signature, or the same one with another signer: another ETag. */
    sig_etag(ida, r2 + at2, h2 - at2, want);
    cr_assert_arr_eq(c.hdr->etag, want, STORE_ETAG_LEN);
    cr_assert_arr_neq(c.hdr->etag, a.hdr->etag, STORE_ETAG_LEN);
    sig_etag(idb, r3 + at3, h3 - at3, want);
    cr_assert_arr_eq(d.hdr->etag, want, STORE_ETAG_LEN);
    cr_assert_arr_neq(d.hdr->etag, a.hdr->etag, STORE_ETAG_LEN);
    store_txn_abort(&t);
    store_close(s);
}
