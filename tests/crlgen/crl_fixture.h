/*
 * Shared by crlgen's tests (test_crl.c, test_run.c): puts a CA into a test's
 * store the way the indexer records an issuer, so that crlgen finds it by id.
 */
#ifndef REVOKD_TEST_CRL_FIXTURE_H
#define REVOKD_TEST_CRL_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "store.h"

/* Records cert in st as issuer `name`, with its SHA-1 and SHA-256 name and key
 * hashes as the indexer computes them; returns its issuer id. */
static inline uint32_t fx_put_issuer(struct store *st, const char *name, X509 *cert)
{
    struct store_issuer_rec rec;
    struct store_txn t;
    unsigned int n;
    uint32_t id;

    memset(&rec, 0, sizeof(rec));
    snprintf(rec.name, sizeof(rec.name), "%s", name);
    cr_assert_eq(X509_NAME_digest(X509_get_subject_name(cert), EVP_sha1(), rec.name_sha1, &n), 1);
    cr_assert_eq(X509_pubkey_digest(cert, EVP_sha1(), rec.key_sha1, &n), 1);
    cr_assert_eq(X509_NAME_digest(X509_get_subject_name(cert), EVP_sha256(), rec.name_sha256, &n),
                 1);
    cr_assert_eq(X509_pubkey_digest(cert, EVP_sha256(), rec.key_sha256, &n), 1);
    unsigned char *der = NULL;
    int len = i2d_X509(cert, &der);
    cr_assert_gt(len, 0);
    cr_assert_eq(store_txn_begin(st, &t, false), 0);
    cr_assert_eq(store_put_issuer(&t, &rec, der, (size_t)len, &id), 0);
    cr_assert_eq(store_txn_commit(&t), 0);
    OPENSSL_free(der);
    return id;
}

#endif
