/*
 * src_certdir — a revocation source made of the certificates a CA issued, one
 * file each in a directory (openssl ca's newcerts/, easy-rsa's issued/, an
 * export): with it `good` is answered only for serials the CA actually issued,
 * and every certificate's expiry is known. It states no revocation: every
 * entry is STORE_GOOD with not_after from the certificate; another source of
 * the same issuer (index.txt, a CRL, revokctl) says which are revoked, and
 * revoked wins (docs/architecture.md, "Sources").
 *
 * Every regular file in the directory whose name does not start with '.' is
 * read (not subdirectories): PEM (every CERTIFICATE block; other blocks are
 * skipped) or one DER certificate, at most SRC_CERT_FILE_MAX bytes. Fail closed:
 *   - a certificate whose issuer name is not the CA's subject is another CA's:
 *     skipped, counted in out->foreign, logged;
 *   - one that names our CA but whose signature the CA key does not verify
 *     (forged, corrupt), a serial the store cannot key, or a file that holds no
 *     readable certificate: skipped and counted in out->malformed, so the sync
 *     is partial and no certificate loses its stored state because of it.
 */
#ifndef REVOKD_SRC_CERTDIR_H
#define REVOKD_SRC_CERTDIR_H

#include <openssl/x509.h>

#include "source.h"
#include "src_x509.h"

/* Files read at most per directory: a wrong path (/usr) must not read forever. */
#define SRC_CERTDIR_FILES_MAX 10000000u

/*
 * Reads every certificate file in dir into out (source STORE_SRC_CERTDIR;
 * sorted, one entry per serial). name is the issuer's config name for log
 * lines. cache (src_cache_new(), one per cert_dir, kept across reads; may be
 * NULL) spares re-reading and re-verifying files that did not change. Returns 0
 * (check out->malformed), or a negative errno when the directory itself cannot
 * be read (logged); out is then emptied.
 */
int src_certdir_read(const char *name, const char *dir, X509 *ca, struct src_cache *cache,
                     struct src_snapshot *out);

#endif
