/*
 * Shared by crlgen's tests (test_crl.c, test_run.c, test_reasons.c): the pieces
 * of a test CA (an extension from its config text, its certificate and key as
 * the PEM files a config names) and putting it into a test's store the way the
 * indexer records an issuer, so that crlgen finds it by id.
 */
#ifndef REVOKD_TEST_CRL_FIXTURE_H
#define REVOKD_TEST_CRL_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "store.h"

/* Adds extension nid, written as in an OpenSSL config ("critical,CA:TRUE"), to x. */
static inline void fx_add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    cr_assert_not_null(e);
    cr_assert_eq(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

/* Writes cert to cert_path and key to key_path (mode 0600), as PEM. */
static inline void fx_write_ca(X509 *cert, EVP_PKEY *key, const char *cert_path,
                               const char *key_path)
{
    FILE *f = fopen(cert_path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(PEM_write_X509(f, cert), 1);
    fclose(f);
    f = fopen(key_path, "w");
    cr_assert_not_null(f);
    fchmod(fileno(f), 0600); /* signer_load refuses a key others may read */
    cr_assert_eq(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
}

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
