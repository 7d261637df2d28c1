/*
 * watch — inotify on the directory of each issuer's index file, reporting a
 * debounced "changed" per issuer, and falling back to polling a target while
 * its directory has no watch (see watch.h for the contract). Every target keeps
 * its own state; targets that share a directory share the kernel's watch
 * descriptor (inotify_add_watch returns the same wd for the same inode), so an
 * event is matched against every target by (wd, name).
 */
#include "watch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

/* Events on the file's name in its directory that mean its content may differ.
 * IN_MOVED_FROM is left out on purpose: `openssl ca` moves index.txt to
 * index.txt.old just before it renames the new file in, and a sync in between
 * would find no file; the IN_MOVED_TO that follows is the change. */
#define WATCH_FILE_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB)
/* Events on the directory itself: its watch no longer follows the path. */
#define WATCH_SELF_MASK (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)

/* One read() of the inotify descriptor: room for many events with names. */
#define WATCH_READ_BUF 8192

struct watch_target {
    char *dir;        /* the directory watched (allocated together with name) */
    const char *name; /* the file's name in it */
    int wd;           /* -1: no watch now */
    bool pending;     /* a change waits for its debounce */
    bool lost_told;   /* WATCH_LOST reported for this outage */
    int64_t first_ms; /* first event of the pending change */
    int64_t due_ms;   /* report the pending change then */
    int64_t retry_ms; /* no watch: try again (and poll) then */
};

struct watch {
    int fd;
    size_t n;
    struct watch_target t[];
};

static int watch_split(struct watch_target *t, const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t len = strlen(path);
    if (len == 0 || (slash && slash[1] == '\0'))
        return -EINVAL;
    /* "dir\0name\0" in one allocation; a bare name lives in ".". */
    size_t dlen = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 1;
    const char *name = slash ? slash + 1 : path;
    size_t nlen = strlen(name);
    char *buf = malloc(dlen + 1 + nlen + 1);
    if (!buf)
        return -ENOMEM;
    memcpy(buf, slash ? path : ".", dlen);
    buf[dlen] = '\0';
    memcpy(buf + dlen + 1, name, nlen + 1);
    t->dir = buf;
    t->name = buf + dlen + 1;
    return 0;
}

int watch_open(struct watch **out, const char *const *paths, size_t n)
{
    *out = NULL;
    struct watch *w = calloc(1, sizeof(*w) + n * sizeof(w->t[0]));
    if (!w)
        return -ENOMEM;
    int rc;
    w->fd = -1;
    for (size_t i = 0; i < n; i++) {
        w->t[i].wd = -1;
        if ((rc = watch_split(&w->t[i], paths[i])) < 0)
            goto fail;
        w->n = i + 1;
    }
    if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
        rc = -errno;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        int wd =
            inotify_add_watch(w->fd, w->t[i].dir, WATCH_FILE_MASK | WATCH_SELF_MASK | IN_ONLYDIR);
        /* A failure is reported by the first watch_run() (retry_ms 0: due at once). */
        if (wd >= 0)
            w->t[i].wd = wd;
    }
    *out = w;
    return 0;
fail:
    watch_close(w);
    return rc;
}

void watch_close(struct watch *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    for (size_t i = 0; i < w->n; i++)
        free(w->t[i].dir);
    free(w);
}

int watch_fd(const struct watch *w)
{
    return w->fd;
}

const char *watch_dir(const struct watch *w, size_t idx)
{
    return w->t[idx].dir;
}

size_t watch_unwatched(const struct watch *w)
{
    size_t k = 0;
    for (size_t i = 0; i < w->n; i++)
        k += w->t[i].wd < 0;
    return k;
}

int64_t watch_timeout(const struct watch *w, int64_t now_ms)
{
    int64_t next = -1;
    for (size_t i = 0; i < w->n; i++) {
        const struct watch_target *t = &w->t[i];
        int64_t due = t->wd < 0 ? t->retry_ms : t->pending ? t->due_ms : -1;
        if (due >= 0 && (next < 0 || due < next))
            next = due;
    }
    if (next < 0)
        return -1;
    return next > now_ms ? next - now_ms : 0;
}

static void watch_mark(struct watch_target *t, int64_t now_ms)
{
    if (!t->pending) {
        t->pending = true;
        t->first_ms = now_ms;
    }
    int64_t due = now_ms + WATCH_DEBOUNCE_MS, cap = t->first_ms + WATCH_DEBOUNCE_MAX_MS;
    t->due_ms = due < cap ? due : cap;
}

/* The directory behind wd no longer is the one at the path (or is gone). */
static void watch_lose(struct watch *w, int wd, bool remove, int64_t now_ms, watch_fn fn, void *ctx)
{
    /* A moved directory's watch would follow the inode to its new path: drop it. Its
     * IN_IGNORED then matches no target. */
    if (remove)
        inotify_rm_watch(w->fd, wd);
    for (size_t i = 0; i < w->n; i++) {
        struct watch_target *t = &w->t[i];
        if (t->wd != wd)
            continue;
        t->wd = -1;
        t->pending = false;
        t->retry_ms = now_ms; /* another directory may be at the path already */
        t->lost_told = true;
        fn(ctx, i, WATCH_LOST, 0);
    }
}

static int watch_read(struct watch *w, int64_t now_ms, watch_fn fn, void *ctx)
{
    char buf[WATCH_READ_BUF] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t len = read(w->fd, buf, sizeof(buf));
        if (len < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -errno;
        }
        if (len == 0)
            return 0;
        for (size_t off = 0; off + sizeof(struct inotify_event) <= (size_t)len;) {
            const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
            off += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                /* Events were dropped: any watched file may have changed. */
                for (size_t i = 0; i < w->n; i++)
                    if (w->t[i].wd >= 0)
                        watch_mark(&w->t[i], now_ms);
                continue;
            }
            if (ev->mask & WATCH_SELF_MASK) {
                watch_lose(w, ev->wd, (ev->mask & IN_MOVE_SELF) != 0, now_ms, fn, ctx);
                continue;
            }
            if (!(ev->mask & WATCH_FILE_MASK) || ev->len == 0)
                continue;
            for (size_t i = 0; i < w->n; i++) {
                struct watch_target *t = &w->t[i];
                if (t->wd == ev->wd && strcmp(t->name, ev->name) == 0)
                    watch_mark(t, now_ms);
            }
        }
    }
}

int watch_run(struct watch *w, int64_t now_ms, watch_fn fn, void *ctx)
{
    int rc = watch_read(w, now_ms, fn, ctx);
    for (size_t i = 0; i < w->n; i++) {
        struct watch_target *t = &w->t[i];
        if (t->wd < 0) {
            if (now_ms < t->retry_ms)
                continue;
            int wd =
                inotify_add_watch(w->fd, t->dir, WATCH_FILE_MASK | WATCH_SELF_MASK | IN_ONLYDIR);
            if (wd >= 0) {
                t->wd = wd;
                t->lost_told = false;
                fn(ctx, i, WATCH_RESTORED, 0);
                continue;
            }
            int err = errno;
            t->retry_ms = now_ms + WATCH_RETRY_MS;
            if (!t->lost_told) {
                t->lost_told = true;
                fn(ctx, i, WATCH_LOST, err);
            }
            fn(ctx, i, WATCH_POLL, err);
        } else if (t->pending && now_ms >= t->due_ms) {
            t->pending = false;
            fn(ctx, i, WATCH_CHANGED, 0);
        }
    }
    return rc;
}
