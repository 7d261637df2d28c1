/*
 * publish — puts files where HTTP servers and relying parties fetch them,
 * atomically: a reader sees either the previous complete file or the new
 * complete one, never a prefix, and after a crash the directory holds one or
 * the other (temp file, fsync, rename, fsync of the directory). crlgen uses it
 * for <issuer>.crl (DER, what CRL distribution points serve) and
 * <issuer>.crl.pem. Nothing here logs; callers report errors with context.
 */
#ifndef REVOKD_PUBLISH_H
#define REVOKD_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

/*
 * Replaces dir/name with data: writes a temp file in dir (unnamed, O_TMPFILE,
 * where the filesystem has it; else dir/.name.tmpXXXXXX), fsyncs it, names it
 * dir/.name.tmpXXXXXX if it was unnamed (removing such files a killed run left
 * first), renames it over dir/name and fsyncs dir. The file is made mode 0644
 * (CRLs are public). On any failure the temp file is removed and dir/name is
 * left as it was
 * (except a failed directory fsync after the rename: the new file is in place
 * but not known to be durable). name must not contain '/'.
 * Returns 0 or a negative errno.
 */
int publish_atomic(const char *dir, const char *name, const void *data, size_t len);

/*
 * Publishes a CRL: creates dir (and its parents, like mkdir -p) if missing,
 * then atomically writes dir/<name>.crl (the DER) and dir/<name>.crl.pem
 * ("X509 CRL" PEM, 64-column base64). Each file is atomic on its own; the
 * pair is not (a failure between them leaves a new .crl with an old .pem).
 * Both renames are made durable by one fsync of dir, after the second.
 * Returns 0 or a negative errno.
 */
int publish_crl(const char *dir, const char *name, const uint8_t *der, size_t len);

#endif
