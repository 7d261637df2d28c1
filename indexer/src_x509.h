/*
 * src_x509 — what the certificate and CRL source readers (src_certdir,
 * src_certmate, src_crl) share: a bounded whole-file read, ASN.1 values turned
 * into the store's forms (Unix seconds, a serial as DER INTEGER content), the
 * one "was this certificate issued by our CA" check, and the rule for a serial
 * a source lists twice. Kept apart so the three readers cannot disagree on any
 * of them.
 */
#ifndef REVOKD_SRC_X509_H
#define REVOKD_SRC_X509_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "source.h"

/*
 * Largest certificate, metadata or CRL file read. Real certificates are a few
 * KiB; a CRL of a million entries is ~40 MiB. The cap keeps a wrong path (a disk
 * image, /dev/zero) from being read into memory.
 */
#define SRC_CERT_FILE_MAX ((size_t)1 << 20)
#define SRC_CRL_FILE_MAX  ((size_t)256 << 20)

/*
 * Reads the whole regular file at path (at most max bytes; larger is -EFBIG,
 * not a regular file -EINVAL) into a malloc'd buffer with a NUL after the data.
 * *st gets its fstat. Returns 0 or a negative errno.
 */
int src_read_file(const char *path, size_t max, uint8_t **buf, size_t *len, struct stat *st);

/* ASN1_TIME (UTCTime or GeneralizedTime) -> Unix seconds. Returns 0 or -EINVAL. */
int src_asn1_time(const ASN1_TIME *t, int64_t *out);

/*
 * An ASN1_INTEGER serial -> DER INTEGER content (minimal two's complement, as the
 * store keys it). Returns 0 or -EBADMSG (too long for the store, or not minimal).
 */
int src_serial(const ASN1_INTEGER *a, uint8_t out[STORE_SERIAL_MAX], uint8_t *len);

/* Result of src_cert_check(). */
enum src_cert_verdict {
    SRC_CERT_OURS = 0,   /* issuer name is the CA's subject and the CA key verifies it */
    SRC_CERT_FOREIGN,    /* issuer name differs: another CA's certificate */
    SRC_CERT_BAD_SIG,    /* names our CA, but the CA key does not verify it: forged or corrupt */
    SRC_CERT_BAD_SERIAL, /* serial the store cannot key (over 32 bytes, or not DER) */
};

/*
 * Checks that x was issued by ca (issuer name AND signature) and, if so, fills
 * e's serial and not_after (status GOOD, no reason). Never trusts the name alone:
 * anyone who can write a file in a watched directory can write a certificate
 * naming our CA, and "good" for a serial the CA never issued is a wrong answer.
 */
enum src_cert_verdict src_cert_check(X509 *x, X509 *ca, struct src_entry *e);

/*
 * Calls fn for each certificate in buf: every CERTIFICATE block of a PEM file
 * (other PEM blocks are skipped), or the one DER certificate that must fill the
 * buffer exactly. Returns how many certificates were found (>= 1), -EBADMSG when
 * none could be read, or fn's negative return, which stops the walk.
 */
int src_x509_each(const uint8_t *buf, size_t len, int (*fn)(void *arg, X509 *x), void *arg);

/*
 * A cache of what reading a certificate file yielded, keyed by path and checked
 * against the file's identity (device, inode, size, mtime and ctime in
 * nanoseconds: ctime cannot be set by a writer, so any rewrite misses), so an
 * unchanged file is neither read nor verified again: signature checks cost
 * ~200 us CPU per certificate, which a directory of a million certificates
 * cannot pay on every change of one file. The readers keep working without one
 * (cache NULL).
 */
struct src_cache;

/* What one certificate in a file turned out to be. */
struct src_cache_cert {
    uint8_t verdict;    /* enum src_cert_verdict */
    struct src_entry e; /* filled when SRC_CERT_OURS */
};

int src_cache_new(struct src_cache **out);
void src_cache_free(struct src_cache *c);
/*
 * The results stored for path if st is the same file as when they were stored
 * (*n set, the array owned by the cache until the next put or sweep), else NULL.
 * A hit marks the item as used in this round.
 */
const struct src_cache_cert *src_cache_get(struct src_cache *c, const char *path,
                                           const struct stat *st, size_t *n);
/* Stores (replaces) the results for path. Returns 0 or -ENOMEM. */
int src_cache_put(struct src_cache *c, const char *path, const struct stat *st,
                  const struct src_cache_cert *v, size_t n);
/* Ends a round: forgets every item neither got nor put since the last sweep. */
void src_cache_sweep(struct src_cache *c);

/*
 * How much an entry weighs when one source lists a serial twice (two files of the
 * same certificate, or a CertMate renewal keeping the serial): revoked > on hold >
 * good, so a duplicate can never hide a revocation.
 */
int src_entry_rank(const struct src_entry *e);

/*
 * Sorts the snapshot (src_snapshot_sort) and folds entries with the same serial
 * into one: the higher src_entry_rank(), then the earlier revocation, then the
 * later not_after. Returns how many entries were folded away.
 */
size_t src_snapshot_fold(struct src_snapshot *s);

#endif
