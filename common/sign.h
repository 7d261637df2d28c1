/*
 * sign — a signing identity (certificate + private key) and the one call that
 * signs bytes with it. Used by the indexer (OCSP responses, with the delegated
 * signer or the CA key) and crlgen (CRLs, with the CA key). The responder never
 * links a key: it serves bytes signed here.
 *
 * signer_load() checks the key matches the certificate and precomputes what every
 * signature needs: the signatureAlgorithm AlgorithmIdentifier DER, the responderID
 * key hash, and the certificate DER. Ownership: the caller owns the struct and
 * frees it with signer_free().
 */
#ifndef REVOKD_SIGN_H
#define REVOKD_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define SIGN_ALG_MAX 128 /* AlgorithmIdentifier DER */
#define SIGN_SIG_MAX 1024

struct signer {
    void *pkey;        /* EVP_PKEY */
    void *mdctx;       /* EVP_MD_CTX initialised once for signing: the template */
    void *work;        /* EVP_MD_CTX each signature copies the template into */
    void *pctx;        /* EVP_PKEY_CTX set up once to sign a digest (ECDSA, RSA PKCS#1), or NULL */
    void *dgst;        /* EVP_MD fetched once (owned, also by thread copies), for pctx */
    void *dctx;        /* EVP_MD_CTX the digest for pctx is computed in, reused */
    void *eckey;       /* EC_KEY for ECDSA_do_sign() (owned; thread copies without libctx
                          borrow it), or NULL */
    int shared;        /* signer_thread_init() copy: key and certificates belong to another */
    void *libctx;      /* a thread copy's own OSSL_LIB_CTX (owned, with its own copies of
                          pkey, eckey and dgst in it), or NULL: it uses sg's key */
    const void *md;    /* EVP_MD, or NULL for Ed25519/Ed448 */
    uint8_t *cert_der; /* signer certificate, DER (owned) */
    size_t cert_len;
    uint8_t key_sha1[20]; /* SHA-1 of the subjectPublicKey bits: ResponderID byKey */
    uint8_t ski[64];      /* subjectKeyIdentifier if present, else key_sha1 (CRL AKI) */
    size_t ski_len;
    uint8_t alg[SIGN_ALG_MAX]; /* signatureAlgorithm AlgorithmIdentifier DER */
    size_t alg_len;
    size_t sig_max;       /* longest signature the key makes (EVP_PKEY_get_size), <= SIGN_SIG_MAX */
    uint8_t *subject_der; /* subject Name DER (owned): CRL issuer */
    size_t subject_len;
};

/*
 * Loads a PEM certificate and PEM private key. digest is "sha256", "sha384" or
 * "sha512" (ignored for Ed25519/Ed448). The key file must be a regular file
 * owned by this process's effective user or by root that only its owner may
 * access (mode & 077 == 0), or, for a process not running as root, a root-owned
 * key its group may read (0640: the packaged root:revokd-keys layout);
 * otherwise -EACCES, logged with the file and the fix (chmod 600), as ssh
 * does. Returns 0 or a negative errno; logs the file at fault.
 */
int signer_load(struct signer *sg, const char *cert_path, const char *key_path, const char *digest);
void signer_free(struct signer *sg);

/*
 * A signer for one more signing thread: its own contexts over the key and
 * certificate of sg (which must outlive it and is not touched). Cheap (~2 us).
 * Free with signer_thread_free(). Returns 0 or a negative errno.
 */
int signer_thread_init(struct signer *t, const struct signer *sg);

/*
 * Moves thread copy t (from signer_thread_init() over sg) into its own OpenSSL
 * library context with its own copy of the key, so that it shares nothing with
 * the other signing threads (~3% more ECDSA signatures per CPU-second with two
 * threads). Only for ECDSA and RSA keys of OpenSSL's default provider; costs
 * ~0.9 ms (ECDSA), so worth it only for a bulk of signatures. Called from the
 * thread that signs with t. Returns 0, or -ENOTSUP with t unchanged (it keeps
 * sharing sg's key, which signs the same).
 */
int signer_thread_own_context(struct signer *t, const struct signer *sg);
void signer_thread_free(struct signer *t);

/*
 * Signs tbs; writes the signature to sig (cap bytes) and its length to *sig_len.
 * Uses sg's contexts: one thread at a time per struct signer.
 */
int signer_sign(const struct signer *sg, const uint8_t *tbs, size_t tbs_len, uint8_t *sig,
                size_t cap, size_t *sig_len);

#endif
