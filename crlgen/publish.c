/*
 * publish — atomic file replacement and the CRL file pair. The sequence in
 * publish_atomic() is the classic one for crash-safe replacement on POSIX
 * filesystems: the data must be durable before the rename makes it visible
 * (else a crash can leave a visible, empty file), and the directory must be
 * durable after it (else a crash can bring the old name back). The temp file
 * lives in the target directory because rename() is only atomic within one
 * filesystem, and is dot-prefixed so directory listings and web servers that
 * hide dotfiles never show a half-written CRL. Where the filesystem has
 * O_TMPFILE the content is written to an unnamed inode and given its dot name
 * only once complete and durable, just before the rename: a kill -9 while a
 * CRL is being written then leaves nothing behind (the inode dies with the
 * descriptor), only a kill between the link and the rename can leave a named
 * temp file, and such stale ones are removed at the next publication of the
 * same name. PEM is produced here from the
 * DER with EVP_EncodeBlock rather than by parsing the CRL back into OpenSSL
 * objects, which would cost memory per entry on large CRLs, and streamed to
 * the temp file a block of lines at a time, so no PEM copy of the CRL is held.
 */
#include "publish.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define PUBLISH_PEM_HEAD  "-----BEGIN X509 CRL-----\n"
#define PUBLISH_PEM_TAIL  "-----END X509 CRL-----\n"
#define PUBLISH_PEM_CHUNK 48 /* input bytes per 64-column base64 line */

static int publish_write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int publish_fsync_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    int rc = fsync(dfd) < 0 ? -errno : 0;
    close(dfd);
    return rc;
}

/* Writes a file's content to fd; returns 0 or a negative errno. */
typedef int (*publish_writer)(int fd, const void *arg);

struct publish_buf {
    const uint8_t *p;
    size_t n;
};

static int publish_write_buf(int fd, const void *arg)
{
    const struct publish_buf *b = arg;
    return publish_write_all(fd, b->p, b->n);
}

static int publish_atomic_with(const char *dir, const char *name, publish_writer wr,
                               const void *arg, bool sync_dir);

int publish_atomic(const char *dir, const char *name, const void *data, size_t len)
{
    struct publish_buf b = {data, len};
    return publish_atomic_with(dir, name, publish_write_buf, &b, true);
}

/*
 * Removes dir/.name.tmpXXXXXX files left by a process killed between naming
 * its temp file and renaming it. With O_TMPFILE a temp file has a name only
 * for that instant, so one seen here is stale (or another crlgen's, which
 * then fails its rename, logs and retries: never a wrong file). Without
 * O_TMPFILE a concurrent writer's temp file is named for its whole write, so
 * this only runs on the O_TMPFILE path. Best effort: errors are ignored.
 */
static void publish_remove_stale(const char *dir, const char *name)
{
    char prefix[NAME_MAX + 8];
    int n = snprintf(prefix, sizeof(prefix), ".%s.tmp", name);
    if (n < 0 || (size_t)n >= sizeof(prefix))
        return;
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        /* exactly the prefix and mkostemp's six characters */
        if (strncmp(e->d_name, prefix, (size_t)n) == 0 && strlen(e->d_name) == (size_t)n + 6)
            (void)unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

/* An unnamed file in dir (O_TMPFILE), or -1 with errno set: the caller falls
 * back to a named temp file where the filesystem or kernel lacks it. */
static int publish_open_unnamed(const char *dir)
{
#ifdef O_TMPFILE
    return open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
#else
    (void)dir;
    errno = EOPNOTSUPP;
    return -1;
#endif
}

/* Gives the unnamed file fd the name tmp (a fresh .name.tmpXXXXXX in dir). */
static int publish_link_unnamed(int fd, char *tmp)
{
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    size_t len = strlen(tmp);
    for (unsigned attempt = 0; attempt < 16; attempt++) {
        char *x = tmp + len - 6;
        /* A unique name the way mkstemp makes one: random letters, retried
         * on a collision. */
        int t = mkostemp(tmp, O_CLOEXEC);
        if (t < 0)
            return -errno;
        close(t);
        if (unlink(tmp) < 0)
            return -errno;
        if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0)
            return 0;
        if (errno != EEXIST)
            return -errno;
        memcpy(x, "XXXXXX", 6);
    }
    return -EEXIST;
}

/* sync_dir false leaves the directory fsync to the caller: publish_crl()
 * renames two files into one directory, and one fsync of it makes both
 * renames durable (one fsync fewer per CRL, which a delta's latency feels). */
static int publish_atomic_with(const char *dir, const char *name, publish_writer wr,
                               const void *arg, bool sync_dir)
{
    char tmp[PATH_MAX], dst[PATH_MAX];
    bool have_tmp = false, unnamed = false;
    int fd = -1;
    int rc;

    if (name[0] == '\0' || strchr(name, '/') != NULL)
        return -EINVAL;
    rc = snprintf(dst, sizeof(dst), "%s/%s", dir, name);
    if (rc < 0 || (size_t)rc >= sizeof(dst))
        return -ENAMETOOLONG;
    rc = snprintf(tmp, sizeof(tmp), "%s/.%s.tmpXXXXXX", dir, name);
    if (rc < 0 || (size_t)rc >= sizeof(tmp))
        return -ENAMETOOLONG;

    fd = publish_open_unnamed(dir);
    if (fd >= 0) {
        unnamed = true;
    } else if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) {
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
            rc = -errno;
            goto fail;
        }
        have_tmp = true;
    } else {
        rc = -errno;
        goto fail;
    }
    /* mkstemp makes 0600, O_TMPFILE the umask's cut of 0644; a CRL is public
     * and read by the web server's user. */
    if (fchmod(fd, 0644) < 0) {
        rc = -errno;
        goto fail;
    }
    rc = wr(fd, arg);
    if (rc < 0)
        goto fail;
    if (fsync(fd) < 0) {
        rc = -errno;
        goto fail;
    }
    if (unnamed) {
        publish_remove_stale(dir, name);
        rc = publish_link_unnamed(fd, tmp);
        if (rc < 0)
            goto fail;
        have_tmp = true;
    }
    /* close() can report a deferred write error (NFS): check it, and never
     * close twice, even when it fails. */
    rc = close(fd);
    fd = -1;
    if (rc < 0) {
        rc = -errno;
        goto fail;
    }
    if (rename(tmp, dst) < 0) {
        rc = -errno;
        goto fail;
    }
    have_tmp = false;
    return sync_dir ? publish_fsync_dir(dir) : 0;

fail:
    if (fd >= 0)
        close(fd);
    if (have_tmp)
        unlink(tmp);
    return rc;
}

/*
 * mkdir -p: creates each missing component with mode 0755. A component that
 * already exists is fine whatever error mkdir() gave (EEXIST, but also EACCES
 * or EROFS on some systems for an existing parent), as long as it is a
 * directory.
 */
static int publish_mkdirs(const char *dir)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);
    struct stat st;

    if (n == 0)
        return -EINVAL;
    if (n >= sizeof(path))
        return -ENAMETOOLONG;
    memcpy(path, dir, n + 1);
    for (char *s = path + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(path, 0755) < 0) {
            int err = errno;
            if (stat(path, &st) < 0)
                return -err;
            if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        }
        if (c == '\0')
            return 0;
        *s = c;
    }
}

/* Lines of PEM encoded per write(): a fixed buffer, so a CRL of any size is
 * written without a PEM copy of it in memory. */
#define PUBLISH_PEM_LINES 1024

/* Writes der as an "X509 CRL" PEM block to fd, PUBLISH_PEM_LINES at a time. */
static int publish_write_pem(int fd, const void *arg)
{
    const struct publish_buf *b = arg;
    /* 64 characters and a newline per line; EVP_EncodeBlock's NUL after each
     * line lands where the newline goes, so +1 only covers the last. */
    static char buf[PUBLISH_PEM_LINES * 65 + 1];
    int rc;

    if (b->n == 0)
        return -EINVAL;
    rc = publish_write_all(fd, (const uint8_t *)PUBLISH_PEM_HEAD, sizeof(PUBLISH_PEM_HEAD) - 1);
    for (size_t off = 0; rc == 0 && off < b->n;) {
        char *p = buf;
        for (unsigned l = 0; l < PUBLISH_PEM_LINES && off < b->n; l++) {
            size_t n = b->n - off < PUBLISH_PEM_CHUNK ? b->n - off : PUBLISH_PEM_CHUNK;
            p += EVP_EncodeBlock((unsigned char *)p, b->p + off, (int)n);
            *p++ = '\n';
            off += n;
        }
        rc = publish_write_all(fd, (const uint8_t *)buf, (size_t)(p - buf));
    }
    if (rc == 0)
        rc = publish_write_all(fd, (const uint8_t *)PUBLISH_PEM_TAIL, sizeof(PUBLISH_PEM_TAIL) - 1);
    return rc;
}

int publish_crl(const char *dir, const char *name, const uint8_t *der, size_t len)
{
    char file[NAME_MAX + 1];
    struct publish_buf b = {der, len};
    bool renamed = false;
    int rc;

    rc = publish_mkdirs(dir);
    if (rc < 0)
        goto fail;
    rc = snprintf(file, sizeof(file), "%s.crl", name);
    if (rc < 0 || (size_t)rc >= sizeof(file)) {
        rc = -ENAMETOOLONG;
        goto fail;
    }
    if (len == 0) {
        rc = -EINVAL;
        goto fail;
    }
    rc = publish_atomic_with(dir, file, publish_write_buf, &b, false);
    if (rc < 0)
        goto fail;
    renamed = true;
    rc = snprintf(file, sizeof(file), "%s.crl.pem", name);
    if (rc < 0 || (size_t)rc >= sizeof(file)) {
        rc = -ENAMETOOLONG;
        goto fail;
    }
    /* This directory fsync makes the DER's rename durable too. */
    rc = publish_atomic_with(dir, file, publish_write_pem, &b, true);
    if (rc < 0)
        goto fail;
    return 0;

fail:
    /* The DER is renamed in but the PEM failed: still make the DER durable. */
    if (renamed)
        (void)publish_fsync_dir(dir);
    return rc;
}
