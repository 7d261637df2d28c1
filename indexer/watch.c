/*
 * watch — inotify on the directory of each issuer's index file, reporting a
 * debounced "changed" per issuer, and falling back to polling a target while
 * its directory has no watch (see watch.h for the contract). Every target keeps
 * its own state; targets that share a directory share the kernel's watch
 * descriptor (inotify_add_watch returns the same wd for the same inode), so an
 * event is matched against every target by (wd, name).
 */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

/* Events on the file's name in its directory that mean its content may differ.
 * IN_MOVED_FROM is left out on purpose: `openssl ca` moves index.txt to
 * index.txt.old just before it renames the new file in, and a sync in between
 * would find no file; the IN_MOVED_TO that follows is the change. */
#define WATCH_FILE_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB)
/* In a watched directory (cert_dir, a CertMate tree) a file renamed out is gone. */
#define WATCH_DIR_MASK (WATCH_FILE_MASK | IN_MOVED_FROM)
/* Events on the directory itself: its watch no longer follows the path. */
#define WATCH_SELF_MASK (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)
/* Every watch is added with the same mask: the kernel keeps one watch (and one mask) per
 * directory, shared by all targets in it, and a later add would replace the mask. */
#define WATCH_ADD_MASK (WATCH_DIR_MASK | WATCH_SELF_MASK | IN_ONLYDIR)
/* Subdirectories watched per tree at most (a wrong path such as / must not exhaust
 * the user's inotify watches for everyone else). */
#define WATCH_TREE_SUBS_MAX 1000000u

/* A subdirectory of a WATCH_TREE target. */
struct watch_sub {
    int wd;
    unsigned depth; /* 1 = <usage>, 2 = <id> */
    char *path;
};

/* One read() of the inotify descriptor: room for many events with names. */
#define WATCH_READ_BUF 8192

struct watch_target {
    enum watch_kind kind;
    char *dir;        /* the directory watched (allocated together with name) */
    const char *name; /* WATCH_FILE: the file's name in it; NULL otherwise */
    int wd;           /* -1: no watch now */
    bool pending;     /* a change waits for its debounce */
    bool lost_told;   /* WATCH_LOST reported for this outage */
    int64_t first_ms; /* first event of the pending change */
    int64_t due_ms;   /* report the pending change then */
    int64_t retry_ms; /* no watch, or sub_failed: try again (and poll) then */
    /* WATCH_TREE only */
    struct watch_sub *subs;
    size_t n_subs, cap_subs;
    bool sub_failed; /* a subdirectory could not be watched: poll until it can */
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

/* Forgets every subdirectory watch of a tree (its root was lost or is re-scanned). */
static void watch_tree_clear(struct watch *w, struct watch_target *t, bool rm)
{
    for (size_t i = 0; i < t->n_subs; i++) {
        if (rm)
            inotify_rm_watch(w->fd, t->subs[i].wd);
        free(t->subs[i].path);
    }
    t->n_subs = 0;
}

static bool watch_tree_has(const struct watch_target *t, int wd, size_t *at)
{
    for (size_t i = 0; i < t->n_subs; i++) {
        if (t->subs[i].wd == wd) {
            if (at)
                *at = i;
            return true;
        }
    }
    return false;
}

static void watch_tree_scan(struct watch *w, struct watch_target *t, const char *path,
                            unsigned depth);

/*
 * Watches directory sub at depth below the root, then what it holds. A
 * directory that cannot be watched sets sub_failed (the target is then polled);
 * one that vanished meanwhile is simply not there.
 */
static void watch_tree_add(struct watch *w, struct watch_target *t, const char *sub, unsigned depth)
{
    int wd = inotify_add_watch(w->fd, sub, WATCH_ADD_MASK);
    if (wd < 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            t->sub_failed = true;
        return;
    }
    if (wd != t->wd && !watch_tree_has(t, wd, NULL)) {
        if (t->n_subs == t->cap_subs) {
            size_t cap = t->cap_subs ? t->cap_subs * 2 : 16;
            struct watch_sub *v =
                cap > WATCH_TREE_SUBS_MAX ? NULL : reallocarray(t->subs, cap, sizeof(*v));
            if (!v) {
                t->sub_failed = true;
                return;
            }
            t->subs = v;
            t->cap_subs = cap;
        }
        char *copy = strdup(sub);
        if (!copy) {
            t->sub_failed = true;
            return;
        }
        t->subs[t->n_subs++] = (struct watch_sub){.wd = wd, .depth = depth, .path = copy};
    }
    watch_tree_scan(w, t, sub, depth + 1);
}

/* Watches the subdirectories of path, which are at depth below the root, and theirs. */
static void watch_tree_scan(struct watch *w, struct watch_target *t, const char *path,
                            unsigned depth)
{
    if (depth > WATCH_TREE_DEPTH)
        return;
    DIR *d = opendir(path);
    if (!d) {
        if (errno != ENOENT && errno != ENOTDIR)
            t->sub_failed = true;
        return;
    }
    struct dirent *de;
    char sub[4096];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN && de->d_type != DT_LNK)
            continue;
        if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= (int)sizeof(sub))
            continue;
        watch_tree_add(w, t, sub, depth);
    }
    closedir(d);
}

/* (Re)builds a tree target's subdirectory watches from scratch. */
static void watch_tree_rescan(struct watch *w, struct watch_target *t)
{
    t->sub_failed = false;
    watch_tree_scan(w, t, t->dir, 1);
}

int watch_open_specs(struct watch **out, const struct watch_spec *specs, size_t n)
{
    *out = NULL;
    struct watch *w = calloc(1, sizeof(*w) + n * sizeof(w->t[0]));
    if (!w)
        return -ENOMEM;
    int rc;
    w->fd = -1;
    for (size_t i = 0; i < n; i++) {
        struct watch_target *t = &w->t[i];
        t->wd = -1;
        t->kind = specs[i].kind;
        if (t->kind == WATCH_FILE) {
            if ((rc = watch_split(t, specs[i].path)) < 0)
                goto fail;
        } else if (!(t->dir = strdup(specs[i].path))) {
            rc = -ENOMEM;
            goto fail;
        }
        w->n = i + 1;
    }
    if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
        rc = -errno;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        struct watch_target *t = &w->t[i];
        int wd = inotify_add_watch(w->fd, t->dir, WATCH_ADD_MASK);
        /* A failure is reported by the first watch_run() (retry_ms 0: due at once). */
        if (wd >= 0) {
            t->wd = wd;
            if (t->kind == WATCH_TREE)
                watch_tree_rescan(w, t);
        }
    }
    *out = w;
    return 0;
fail:
    watch_close(w);
    return rc;
}

int watch_open(struct watch **out, const char *const *paths, size_t n)
{
    struct watch_spec *specs = calloc(n ? n : 1, sizeof(*specs));
    if (!specs)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        specs[i] = (struct watch_spec){.path = paths[i], .kind = WATCH_FILE};
    int rc = watch_open_specs(out, specs, n);
    free(specs);
    return rc;
}

void watch_close(struct watch *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        watch_tree_clear(w, &w->t[i], false);
        free(w->t[i].subs);
        free(w->t[i].dir);
    }
    if (w->fd >= 0)
        close(w->fd);
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
        if (t->wd >= 0 && t->sub_failed && (due < 0 || t->retry_ms < due))
            due = t->retry_ms;
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
        /* The tree moved or went away with its root: its subdirectories' watches would
         * follow it elsewhere. They are rebuilt when the root is watched again. */
        watch_tree_clear(w, t, true);
        t->sub_failed = false;
        t->retry_ms = now_ms; /* another directory may be at the path already */
        t->lost_told = true;
        fn(ctx, i, WATCH_LOST, 0);
    }
}

/* An event on the watched directory or a tree subdirectory itself. */
static void watch_self(struct watch *w, const struct inotify_event *ev, int64_t now_ms, watch_fn fn,
                       void *ctx)
{
    /* A tree's subdirectory removed or moved: the certificates in it are gone from the
     * tree (a change), and once its watch is gone (IN_IGNORED) it is forgotten. A moved
     * one keeps its watch: if it moved within the tree, the IN_MOVED_TO in its new
     * parent found the same watch already in the list. */
    for (size_t i = 0; i < w->n; i++) {
        struct watch_target *t = &w->t[i];
        size_t at;
        if (t->kind != WATCH_TREE || t->wd < 0 || !watch_tree_has(t, ev->wd, &at))
            continue;
        watch_mark(t, now_ms);
        if (ev->mask & IN_IGNORED) {
            free(t->subs[at].path);
            t->subs[at] = t->subs[--t->n_subs];
        }
    }
    bool root = false;
    for (size_t i = 0; i < w->n; i++)
        root |= w->t[i].wd == ev->wd;
    if (root)
        watch_lose(w, ev->wd, (ev->mask & IN_MOVE_SELF) != 0, now_ms, fn, ctx);
}

/* An event on a name in a watched directory: does it concern target t? */
static void watch_event_name(struct watch *w, struct watch_target *t,
                             const struct inotify_event *ev, int64_t now_ms)
{
    if (t->wd < 0)
        return;
    if (t->kind == WATCH_FILE) {
        if (t->wd == ev->wd && (ev->mask & WATCH_FILE_MASK) && strcmp(t->name, ev->name) == 0)
            watch_mark(t, now_ms);
        return;
    }
    if (ev->name[0] == '.')
        return;
    unsigned depth;
    const char *parent;
    size_t at;
    if (t->wd == ev->wd) {
        depth = 0;
        parent = t->dir;
    } else if (t->kind == WATCH_TREE && watch_tree_has(t, ev->wd, &at)) {
        depth = t->subs[at].depth;
        parent = t->subs[at].path;
    } else {
        return;
    }
    watch_mark(t, now_ms);
    /* A directory created or renamed into a tree: watch it (and what it already holds)
     * before the debounce ends, so the sync that follows and every later change in it
     * are seen. */
    if (t->kind == WATCH_TREE && (ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
        depth < WATCH_TREE_DEPTH) {
        char sub[4096];
        if (snprintf(sub, sizeof(sub), "%s/%s", parent, ev->name) < (int)sizeof(sub))
            watch_tree_add(w, t, sub, depth + 1);
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
                /* Events were dropped: any watched file may have changed, and a tree may
                 * have new directories nobody told us about. */
                for (size_t i = 0; i < w->n; i++) {
                    if (w->t[i].wd < 0)
                        continue;
                    watch_mark(&w->t[i], now_ms);
                    if (w->t[i].kind == WATCH_TREE)
                        watch_tree_scan(w, &w->t[i], w->t[i].dir, 1);
                }
                continue;
            }
            if (ev->mask & WATCH_SELF_MASK) {
                watch_self(w, ev, now_ms, fn, ctx);
                continue;
            }
            if (!(ev->mask & WATCH_DIR_MASK) || ev->len == 0)
                continue;
            for (size_t i = 0; i < w->n; i++)
                watch_event_name(w, &w->t[i], ev, now_ms);
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
            int wd = inotify_add_watch(w->fd, t->dir, WATCH_ADD_MASK);
            if (wd >= 0) {
                t->wd = wd;
                t->lost_told = false;
                if (t->kind == WATCH_TREE)
                    watch_tree_rescan(w, t);
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
        } else if (t->sub_failed && now_ms >= t->retry_ms) {
            /* Part of the tree has no watch: poll it, and try to watch it again. */
            watch_tree_rescan(w, t);
            t->retry_ms = now_ms + WATCH_RETRY_MS;
            if (t->sub_failed)
                fn(ctx, i, WATCH_POLL, 0);
        }
    }
    return rc;
}
