/*
 * src_cadb — index.txt -> snapshot. OpenSSL rewrites the file whole on every
 * change, so there is no tail to follow: each read maps the file, walks it with
 * the cadb iterator and copies only the decoded fields.
 */
#include "src_cadb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cadb.h"
#include "log.h"

/* Bytes read at a time: the file (100 MB at 1M lines) is never resident whole. */
#define SRC_CADB_CHUNK ((size_t)8 << 20)

/* Parses the complete lines of buf[0..len); lineno of its first line is base + 1. */
static int src_cadb_lines(const char *issuer, const char *path, const char *buf, size_t len,
                          unsigned base, struct src_snapshot *out)
{
    struct cadb_iter it;
    struct cadb_entry e;
    unsigned lineno;
    cadb_iter_init(&it, buf, len);
    for (;;) {
        int r = cadb_next(&it, &e, &lineno);
        if (r == 0)
            return 0;
        lineno += base;
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
        int rc = src_snapshot_push(out, &s);
        if (rc < 0)
            return rc;
    }
}

int src_cadb_read(const char *issuer, const char *path, struct src_snapshot *out)
{
    return src_cadb_read_rounds(issuer, path, out, SRC_CADB_CHUNK + CADB_LINE_MAX);
}

int src_cadb_read_rounds(const char *issuer, const char *path, struct src_snapshot *out, size_t cap)
{
    size_t have = 0;
    unsigned base = 0;
    int rc = 0;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (!(buf = malloc(cap))) {
        rc = -ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + have, cap - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            goto out;
        }
        size_t total = have + (size_t)r, end = total;
        bool eof = r == 0;
        if (!eof && total < cap)
            goto more; /* fill the buffer first: fewer, larger parse rounds */
        if (!eof) {
            /* Complete lines only; the tail waits for the next read. A buffer with no
             * newline at all is one over-long line: parsed as it is (malformed). */
            const char *nl = memrchr(buf, '\n', total);
            if (nl)
                end = (size_t)(nl - buf) + 1;
        }
        if ((rc = src_cadb_lines(issuer, path, buf, end, base, out)) < 0)
            goto out;
        for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + end - p))); p++)
            base++;
        memmove(buf, buf + end, total - end);
        have = total - end;
        if (eof)
            break;
        continue;
    more:
        have = total;
    }
out:
    free(buf);
    close(fd);
    return rc;
}
