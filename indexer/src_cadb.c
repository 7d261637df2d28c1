/*
 * src_cadb — index.txt -> snapshot. OpenSSL rewrites the file whole on every
 * change, so there is no tail to follow: each read maps the file, walks it with
 * the cadb iterator and copies only the decoded fields.
 */
#include "src_cadb.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cadb.h"
#include "log.h"

int src_cadb_read(const char *issuer, const char *path, struct src_snapshot *out)
{
    struct stat st;
    void *map = NULL;
    size_t len = 0;
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    len = (size_t)st.st_size;
    if (len) {
        /* A file truncated under the map raises SIGBUS on access; openssl ca writes a
         * new file and renames it over the old one, so the mapped inode stays whole. */
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            map = NULL;
            rc = -errno;
            goto out;
        }
        madvise(map, len, MADV_SEQUENTIAL);
    }
    struct cadb_iter it;
    struct cadb_entry e;
    unsigned lineno;
    cadb_iter_init(&it, map, len);
    for (;;) {
        int r = cadb_next(&it, &e, &lineno);
        if (r == 0)
            break;
        if (r < 0) {
            /* The certificate keeps whatever state the store has; the sync is partial. */
            log_err("[issuer %s] %s:%u: malformed line skipped: that certificate keeps its "
                    "stored state and the sync is incomplete until the line is fixed",
                    issuer, path, lineno);
            out->malformed++;
            continue;
        }
        if (e.flags & CADB_F_SERIAL_ZERO)
            log_warn("[issuer %s] %s:%u: serial 0 (RFC 5280 4.1.2.2 wants a positive serial; "
                     "served anyway)",
                     issuer, path, lineno);
        if (e.flags & CADB_F_SERIAL_NEGATIVE)
            log_warn("[issuer %s] %s:%u: negative serial (RFC 5280 4.1.2.2 wants a positive "
                     "serial; served anyway)",
                     issuer, path, lineno);
        struct src_entry s = {
            .serial_len = (uint8_t)e.serial_len,
            .status = (uint8_t)e.status,
            .reason = e.status == STORE_GOOD ? STORE_REASON_NONE : e.reason,
            .flags = (uint8_t)e.flags,
            .revoked_at = e.status == STORE_GOOD ? 0 : e.revoked_at,
            .invalidity = e.status == STORE_GOOD ? 0 : e.invalidity,
            .not_after = e.not_after,
            .origin = lineno,
        };
        memcpy(s.serial, e.serial, e.serial_len);
        if ((rc = src_snapshot_push(out, &s)) < 0)
            goto out;
    }
out:
    if (map)
        munmap(map, len);
    close(fd);
    return rc;
}
