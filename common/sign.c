/*
 * sign — loads a certificate and its private key and signs with them. Signing is
 * the indexer's and crlgen's inner loop, so everything that does not depend on
 * the bytes being signed (digest fetch, key setup, the AlgorithmIdentifier, the
 * key hashes) is done once in signer_load(). For RSA PKCS#1 v1.5 a signature is
 * one digest and one EVP_PKEY_sign() on an EVP_PKEY_CTX initialised once (what
 * `openssl speed` measures); for ECDSA one digest and ECDSA_do_sign(), the code
 * EVP_PKEY_sign() runs minus its generic DER encoder (sign_ecdsa()); other keys
 * (Ed25519, RSA-PSS) copy a pre-initialised EVP_MD_CTX. signer_thread_init()
 * gives each signing thread its own contexts, and for an ECDSA or RSA key of the
 * default provider its own OpenSSL library context and copy of the key, so that
 * signing threads share nothing (sign_thread_libctx()).
 */
/* For ECDSA_do_sign() and EVP_PKEY_get1_EC_KEY(): deprecated in OpenSSL 3.0, not
 * removed; a build without them (no-deprecated) signs through EVP_PKEY_sign(). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "der.h"
#include "log.h"

static void sign_log_ssl(const char *what, const char *path)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "no detail";
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    log_err("%s %s: %s", what, path, buf);
    ERR_clear_error();
}

static int sign_der(void *obj, int (*i2d)(void *, unsigned char **), uint8_t **out, size_t *len)
{
    int n = i2d(obj, NULL);
    if (n <= 0)
        return -EINVAL;
    uint8_t *buf = OPENSSL_malloc((size_t)n);
    if (!buf)
        return -ENOMEM;
    unsigned char *p = buf;
    if (i2d(obj, &p) != n) {
        OPENSSL_free(buf);
        return -EINVAL;
    }
    *out = buf;
    *len = (size_t)n;
    return 0;
}

static int i2d_x509_v(void *x, unsigned char **p)
{
    return i2d_X509(x, p);
}

static int i2d_name_v(void *x, unsigned char **p)
{
    return i2d_X509_NAME(x, p);
}

/*
 * The digest-then-sign context: only for key types whose signature over a digest
 * is exactly what EVP_DigestSign() produces with the default parameters.
 */
static void *sign_pkey_ctx(OSSL_LIB_CTX *lc, EVP_PKEY *pkey, const EVP_MD *md)
{
    int id = EVP_PKEY_get_base_id(pkey);
    if (!md || (id != EVP_PKEY_EC && id != EVP_PKEY_RSA))
        return NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(lc, pkey, NULL);
    if (!ctx || EVP_PKEY_sign_init(ctx) != 1 ||
        (id == EVP_PKEY_RSA && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1) ||
        EVP_PKEY_CTX_set_signature_md(ctx, md) != 1) {
        EVP_PKEY_CTX_free(ctx);
        ERR_clear_error();
        return NULL; /* the EVP_MD_CTX path still works */
    }
    return ctx;
}

/* Whether pkey is a key of OpenSSL's default provider (not FIPS, not hardware). */
static bool sign_default_provider(const EVP_PKEY *pkey)
{
    const OSSL_PROVIDER *prov = EVP_PKEY_get0_provider(pkey);
    const char *name = prov ? OSSL_PROVIDER_get0_name(prov) : NULL;
    return name && strcmp(name, "default") == 0;
}

#ifndef OPENSSL_NO_DEPRECATED_3_0
/* Appends INTEGER x (non-negative) in minimal DER: a 0x00 first if the top bit is set. */
static void sign_der_uint(struct derw *w, const BIGNUM *x)
{
    uint8_t b[1 + 128];
    int n = BN_num_bytes(x);
    if (n < 0 || (size_t)n > sizeof(b) - 1) {
        w->err = -EINVAL;
        return;
    }
    b[0] = 0;
    BN_bn2bin(x, b + 1);
    size_t pad = n == 0 || (b[1] & 0x80) ? 1 : 0;
    derw_tlv(w, DER_INTEGER, b + 1 - pad, (size_t)n + pad);
}

/*
 * ECDSA over md: ECDSA_do_sign() (the same ossl_ecdsa_sign path and nonce as
 * EVP_PKEY_sign()), then Ecdsa-Sig-Value { r, s } written here: EVP_PKEY_sign()
 * spends ~4% of a P-256 signature on its generic i2d_ECDSA_SIG() and ECDSA_size().
 */
static int sign_ecdsa(void *eckey, const uint8_t *md, unsigned mdlen, uint8_t *sig, size_t cap,
                      size_t *sig_len)
{
    const BIGNUM *r, *s;
    ECDSA_SIG *es = ECDSA_do_sign(md, (int)mdlen, eckey);
    if (!es)
        return -EIO;
    ECDSA_SIG_get0(es, &r, &s);
    struct derw w, body;
    uint8_t tmp[2 * (3 + 1 + 128)];
    derw_init_fixed(&body, tmp, sizeof(tmp));
    sign_der_uint(&body, r);
    sign_der_uint(&body, s);
    derw_init_fixed(&w, sig, cap);
    derw_tlv(&w, DER_SEQUENCE, body.buf, body.len);
    ECDSA_SIG_free(es);
    if (body.err || w.err)
        return -EIO;
    *sig_len = w.len;
    return 0;
}

/*
 * The EC_KEY of an ECDSA key for sign_ecdsa(), or NULL (EVP_PKEY_sign() then):
 * only for a key of OpenSSL's default provider, whose ECDSA is the code
 * ECDSA_do_sign() runs (a FIPS or hardware provider's key keeps its provider),
 * and only if a signature made through it verifies with the EVP key.
 */
static void *sign_eckey(OSSL_LIB_CTX *lc, EVP_PKEY *pkey, const EVP_MD *md)
{
    static const uint8_t probe[] = "revokd signer self-test";
    uint8_t d[EVP_MAX_MD_SIZE], sig[SIGN_SIG_MAX];
    unsigned dlen = 0;
    size_t sig_len = 0;
    if (!md || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC || !sign_default_provider(pkey))
        return NULL;
    EC_KEY *ec = EVP_PKEY_get1_EC_KEY(pkey);
    EVP_PKEY_CTX *v = EVP_PKEY_CTX_new_from_pkey(lc, pkey, NULL);
    if (!ec || !v || EVP_Digest(probe, sizeof(probe), d, &dlen, md, NULL) != 1 ||
        sign_ecdsa(ec, d, dlen, sig, sizeof(sig), &sig_len) < 0 || EVP_PKEY_verify_init(v) != 1 ||
        EVP_PKEY_CTX_set_signature_md(v, md) != 1 ||
        EVP_PKEY_verify(v, sig, sig_len, d, dlen) != 1) {
        EC_KEY_free(ec);
        ec = NULL;
    }
    EVP_PKEY_CTX_free(v);
    ERR_clear_error();
    return ec;
}
#endif

/*
 * Opens a private key file for reading, refusing one others may use, the way
 * ssh refuses a key that is too open: a key others can read may already be
 * somebody else's. Allowed: a key of this process's user (or of root, when
 * running as root) that only its owner may access (mode & 077 == 0); or a key
 * of root's that its group may also read (0640 at most), the packaged layout
 * (root:revokd-keys 0640, the key holders' units in that group and the
 * responder's not: docs/operations-guide.md). Refused: any access by others,
 * group write, or another non-root user's key. Checked on the open descriptor
 * (fstat), so what is checked is what is read. Returns 0 with *out set, or a
 * negative errno (logged with the file and the fix).
 */
static int sign_open_key(const char *path, BIO **out)
{
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        log_err("cannot open private key %s: %s", path, strerror(e));
        return -e;
    }
    if (fstat(fd, &sb) < 0) {
        int e = errno;
        log_err("private key %s: fstat: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    unsigned mode = (unsigned)(sb.st_mode & 07777);
    uid_t me = geteuid();
    bool root_grants_group = sb.st_uid == 0 && me != 0 && !(mode & 037);
    if (!S_ISREG(sb.st_mode)) {
        log_err("private key %s: not a regular file", path);
        goto refuse;
    }
    if (sb.st_uid != me && sb.st_uid != 0) {
        log_err("private key %s belongs to uid %u, neither this user (uid %u) nor root; refusing "
                "to use it (fix: chown %u %s && chmod 600 %s)",
                path, (unsigned)sb.st_uid, (unsigned)me, (unsigned)me, path, path);
        goto refuse;
    }
    if ((mode & 077) && !root_grants_group) {
        log_err("private key %s has mode %04o: %s may access it; refusing to use it (fix: "
                "chmod 600 %s)",
                path, mode, mode & 007 ? "others" : "its group", path);
        goto refuse;
    }
    if (!(*out = BIO_new_fd(fd, BIO_CLOSE))) {
        sign_log_ssl("cannot read private key", path);
        close(fd);
        return -ENOMEM;
    }
    return 0;

refuse:
    close(fd);
    return -EACCES;
}

int signer_load(struct signer *sg, const char *cert_path, const char *key_path, const char *digest)
{
    int rc = -EINVAL;
    X509 *cert = NULL;
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *tmpl = NULL, *work = NULL;
    BIO *bio = NULL;

    memset(sg, 0, sizeof(*sg));
    if (!(bio = BIO_new_file(cert_path, "r"))) {
        sign_log_ssl("cannot open certificate", cert_path);
        rc = -ENOENT;
        goto fail;
    }
    if (!(cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        sign_log_ssl("cannot read PEM certificate", cert_path);
        goto fail;
    }
    BIO_free(bio);
    bio = NULL;
    if ((rc = sign_open_key(key_path, &bio)) < 0)
        goto fail;
    rc = -EINVAL;
    if (!(pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL))) {
        sign_log_ssl("cannot read PEM private key", key_path);
        goto fail;
    }
    if (X509_check_private_key(cert, pkey) != 1) {
        /* Name both files: either may be the wrong one. */
        char what[PATH_MAX + 64];
        snprintf(what, sizeof(what), "private key %s does not match certificate", key_path);
        sign_log_ssl(what, cert_path);
        goto fail;
    }

    const EVP_MD *md = NULL;
    int id = EVP_PKEY_get_base_id(pkey);
    if (id != EVP_PKEY_ED25519 && id != EVP_PKEY_ED448) {
        if (!digest || !(md = EVP_get_digestbyname(digest))) {
            log_err("unknown digest '%s' for key %s", digest ? digest : "(null)", key_path);
            goto fail;
        }
    }

    if (!(tmpl = EVP_MD_CTX_new()) || !(work = EVP_MD_CTX_new())) {
        rc = -ENOMEM;
        goto fail;
    }
    EVP_PKEY_CTX *pctx = NULL;
    if (EVP_DigestSignInit(tmpl, &pctx, md, NULL, pkey) != 1) {
        sign_log_ssl("cannot set up signing with key", key_path);
        goto fail;
    }
    /* The provider knows the exact AlgorithmIdentifier for this key + digest. */
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, sg->alg,
                                                  sizeof(sg->alg));
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_PKEY_CTX_get_params(pctx, params) != 1 || params[0].return_size == 0 ||
        params[0].return_size > sizeof(sg->alg)) {
        sign_log_ssl("no signature AlgorithmIdentifier for key", key_path);
        goto fail;
    }
    sg->alg_len = params[0].return_size;
    int sig_max = EVP_PKEY_get_size(pkey);
    if (sig_max <= 0 || sig_max > SIGN_SIG_MAX) {
        log_err("key %s: signatures of %d bytes are not supported", key_path, sig_max);
        goto fail;
    }
    sg->sig_max = (size_t)sig_max;

    const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(cert);
    if (!bits ||
        !EVP_Digest(bits->data, (size_t)bits->length, sg->key_sha1, NULL, EVP_sha1(), NULL)) {
        sign_log_ssl("cannot hash public key of", cert_path);
        goto fail;
    }
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);
    if (ski && ski->length > 0 && (size_t)ski->length <= sizeof(sg->ski)) {
        memcpy(sg->ski, ski->data, (size_t)ski->length);
        sg->ski_len = (size_t)ski->length;
    } else {
        memcpy(sg->ski, sg->key_sha1, sizeof(sg->key_sha1));
        sg->ski_len = sizeof(sg->key_sha1);
    }
    if ((rc = sign_der(cert, i2d_x509_v, &sg->cert_der, &sg->cert_len)) < 0 ||
        (rc = sign_der(X509_get_subject_name(cert), i2d_name_v, &sg->subject_der,
                       &sg->subject_len)) < 0)
        goto fail;

    /* An explicitly fetched digest: EVP_DigestInit_ex2() with it does no name lookup
     * (locks, string compares) per signature, as an implicitly fetched one would. */
    if ((sg->pctx = sign_pkey_ctx(NULL, pkey, md)) &&
        (!(sg->dgst = EVP_MD_fetch(NULL, EVP_MD_get0_name(md), NULL)) ||
         !(sg->dctx = EVP_MD_CTX_new()))) {
        EVP_PKEY_CTX_free(sg->pctx);
        EVP_MD_free(sg->dgst);
        sg->pctx = sg->dgst = NULL;
        ERR_clear_error();
    }
#ifndef OPENSSL_NO_DEPRECATED_3_0
    if (sg->pctx)
        sg->eckey = sign_eckey(NULL, pkey, md);
#endif
    sg->pkey = pkey;
    sg->mdctx = tmpl;
    sg->work = work;
    sg->md = md;
    BIO_free(bio);
    X509_free(cert);
    return 0;

fail:
    OPENSSL_free(sg->cert_der);
    OPENSSL_free(sg->subject_der);
    EVP_MD_CTX_free(work);
    EVP_MD_CTX_free(tmpl);
    EVP_PKEY_free(pkey);
    X509_free(cert);
    BIO_free(bio);
    memset(sg, 0, sizeof(*sg));
    return rc;
}

/*
 * Gives thread copy t its own OpenSSL library context holding its own copy of
 * sg's key, digest and signing context. Why: in OpenSSL 3.0 each ECDSA signature
 * fetches SHA-512 for its nonce (EVP_MD_fetch(): the library context's method
 * store behind a read-write lock, and one reference count on one EVP_MD) and
 * draws from the context's RNG; threads signing in one context bounce those
 * cache lines between cores, which `openssl speed -multi` (processes) does not.
 * An RSA key shared by threads blinds under a lock in all threads but one.
 * Only for ECDSA and RSA keys of the default provider: the new context reads no
 * configuration file and, having no provider loaded, falls back to the default
 * provider alone, the same code that signs with sg's key. A key of any other
 * provider (FIPS, PKCS#11, an engine) depends on what the configuration loads
 * and keeps the shared context. (The configuration's [random] settings, too,
 * apply to the shared context only; a private one seeds OpenSSL's default DRBG
 * from the OS.) The key is copied through its parameters (EVP_PKEY_todata(),
 * wiped after; no DER decoders to set up in the fresh context: 0.9 ms per ECDSA
 * copy instead of 1.1), not read again from its file (signer_load() checked
 * that), and must be EVP_PKEY_eq() to sg's; an ECDSA copy passes sign_eckey()'s
 * self-test again.
 * Returns 0 with t->libctx, pkey, dgst, pctx and eckey set, or -1 with t
 * untouched: the caller then shares sg's key.
 */
static int sign_thread_libctx(struct signer *t, const struct signer *sg)
{
    int id = EVP_PKEY_get_base_id(sg->pkey);
    if (!sg->pctx || (id != EVP_PKEY_EC && id != EVP_PKEY_RSA) || !sign_default_provider(sg->pkey))
        return -1;
    int rc = -1;
    OSSL_PARAM *data = NULL;
    EVP_PKEY_CTX *kctx = NULL;
    EVP_PKEY *pkey = NULL;
    EVP_MD *dgst = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    void *eckey = NULL;
    OSSL_LIB_CTX *lc = OSSL_LIB_CTX_new();
    if (!lc || EVP_PKEY_todata(sg->pkey, EVP_PKEY_KEYPAIR, &data) != 1 ||
        !(kctx = EVP_PKEY_CTX_new_from_name(lc, id == EVP_PKEY_EC ? "EC" : "RSA", NULL)) ||
        EVP_PKEY_fromdata_init(kctx) != 1 ||
        EVP_PKEY_fromdata(kctx, &pkey, EVP_PKEY_KEYPAIR, data) != 1 ||
        !sign_default_provider(pkey) || EVP_PKEY_eq(pkey, sg->pkey) != 1 ||
        !(dgst = EVP_MD_fetch(lc, EVP_MD_get0_name(sg->md), NULL)) ||
        !(pctx = sign_pkey_ctx(lc, pkey, sg->md)))
        goto out;
#ifndef OPENSSL_NO_DEPRECATED_3_0
    if (sg->eckey && !(eckey = sign_eckey(lc, pkey, sg->md)))
        goto out;
#endif
    t->libctx = lc;
    t->pkey = pkey;
    t->dgst = dgst;
    t->pctx = pctx;
    t->eckey = eckey;
    lc = NULL;
    pkey = NULL;
    dgst = NULL;
    pctx = NULL;
    rc = 0;
out:
    /* OpenSSL 3.0 has no OSSL_PARAM_clear_free(): the key's numbers are wiped here */
    for (OSSL_PARAM *q = data; q && q->key; q++)
        if (q->data)
            OPENSSL_cleanse(q->data, q->data_size);
    OSSL_PARAM_free(data);
    EVP_PKEY_CTX_free(kctx);
    EVP_PKEY_CTX_free(pctx);
    EVP_MD_free(dgst);
    EVP_PKEY_free(pkey);
    OSSL_LIB_CTX_free(lc);
    ERR_clear_error();
    return rc;
}

int signer_thread_init(struct signer *t, const struct signer *sg)
{
    *t = *sg;
    t->shared = 1;
    t->libctx = NULL;
    t->pctx = t->dgst = t->dctx = NULL; /* a thread copy owns whatever of these it has */
    t->mdctx = EVP_MD_CTX_new();
    t->work = EVP_MD_CTX_new();
    if (!t->mdctx || !t->work)
        goto nomem;
    /* A provider that cannot duplicate: signer_sign() re-initialises work. */
    if (EVP_MD_CTX_copy_ex(t->mdctx, sg->mdctx) != 1)
        ERR_clear_error();
    if (!sg->pctx)
        return 0;
    if (!(t->dctx = EVP_MD_CTX_new()))
        goto nomem;
    /* sg's key, in sg's library context: the thread's own EVP_PKEY_CTX over it */
    if (EVP_MD_up_ref(sg->dgst) == 1)
        t->dgst = sg->dgst;
    if (!t->dgst || !(t->pctx = sign_pkey_ctx(NULL, sg->pkey, sg->md))) {
        EVP_MD_free(t->dgst);
        EVP_MD_CTX_free(t->dctx);
        t->dgst = t->dctx = NULL; /* the EVP_MD_CTX path still works */
    }
    return 0;
nomem:
    signer_thread_free(t);
    return -ENOMEM;
}

int signer_thread_own_context(struct signer *t, const struct signer *sg)
{
    if (t->libctx)
        return 0;
    struct signer n = *t;
    if (!t->shared || sign_thread_libctx(&n, sg) < 0)
        return -ENOTSUP;
    /* what t had over sg's key: its EVP_PKEY_CTX and its digest reference */
    EVP_PKEY_CTX_free(t->pctx);
    EVP_MD_free(t->dgst);
    *t = n;
    return 0;
}

void signer_thread_free(struct signer *t)
{
    EVP_MD_free(t->dgst);
    EVP_MD_CTX_free(t->dctx);
    EVP_PKEY_CTX_free(t->pctx);
    EVP_MD_CTX_free(t->work);
    EVP_MD_CTX_free(t->mdctx);
    if (t->libctx) {
        /* its own key, freed before the library context it lives in */
#ifndef OPENSSL_NO_DEPRECATED_3_0
        EC_KEY_free(t->eckey);
#endif
        EVP_PKEY_free(t->pkey);
        OSSL_LIB_CTX_free(t->libctx);
    }
    memset(t, 0, sizeof(*t));
}

void signer_free(struct signer *sg)
{
    if (sg->shared) {
        signer_thread_free(sg);
        return;
    }
#ifndef OPENSSL_NO_DEPRECATED_3_0
    EC_KEY_free(sg->eckey);
#endif
    EVP_PKEY_CTX_free(sg->pctx);
    EVP_MD_CTX_free(sg->dctx);
    EVP_MD_free(sg->dgst);
    OPENSSL_free(sg->cert_der);
    OPENSSL_free(sg->subject_der);
    EVP_MD_CTX_free(sg->work);
    EVP_MD_CTX_free(sg->mdctx);
    EVP_PKEY_free(sg->pkey);
    memset(sg, 0, sizeof(*sg));
}

int signer_sign(const struct signer *sg, const uint8_t *tbs, size_t tbs_len, uint8_t *sig,
                size_t cap, size_t *sig_len)
{
    EVP_MD_CTX *work = sg->work;
    size_t n = cap;
    if (sg->pctx) {
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned mdlen;
        if (EVP_DigestInit_ex2(sg->dctx, sg->dgst, NULL) != 1 ||
            EVP_DigestUpdate(sg->dctx, tbs, tbs_len) != 1 ||
            EVP_DigestFinal_ex(sg->dctx, md, &mdlen) != 1)
            goto fail;
#ifndef OPENSSL_NO_DEPRECATED_3_0
        if (sg->eckey) {
            if (sign_ecdsa(sg->eckey, md, mdlen, sig, cap, sig_len) < 0)
                goto fail;
            return 0;
        }
#endif
        if (EVP_PKEY_sign(sg->pctx, sig, &n, md, mdlen) != 1)
            goto fail;
        *sig_len = n;
        return 0;
    }
    if (EVP_MD_CTX_copy_ex(work, sg->mdctx) != 1) {
        /* Some providers cannot duplicate a signing context: set it up afresh. */
        ERR_clear_error();
        EVP_MD_CTX_reset(work);
        if (EVP_DigestSignInit(work, NULL, sg->md, NULL, sg->pkey) != 1)
            goto fail;
    }
    if (EVP_DigestSign(work, sig, &n, tbs, tbs_len) != 1)
        goto fail;
    *sig_len = n;
    return 0;
fail:
    ERR_clear_error();
    return -EIO;
}
