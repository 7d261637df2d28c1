/*
 * watch — tells the indexer, within milliseconds, which issuers' index files
 * changed, so a revocation reaches the responder without waiting for the next
 * periodic check. It watches each file's DIRECTORY with inotify, not the file:
 * `openssl ca` replaces index.txt by renaming index.txt.new over it, which a
 * watch on the old file's inode would never see. Events for other names in the
 * directory (index.txt.attr, serial, newcerts/...) are ignored. A change is
 * reported after a short debounce, so one rename sequence (or create + write +
 * close) yields one sync. When a directory is moved or deleted its watch is
 * dropped; the target is then reported for polling every WATCH_RETRY_MS while
 * the watch is re-established by path, and reported once more when it is.
 *
 * Besides single files (an index.txt, a CRL), a target may be a directory
 * (WATCH_DIR: a cert_dir, where any file appearing, changing, renamed in or out,
 * or removed is a change) or a directory tree (WATCH_TREE: a CertMate store,
 * <root>/<usage>/<id>/files, where every directory down to WATCH_TREE_DEPTH gets
 * its own watch, added as directories appear, so a new certificate directory
 * is followed from its first file). Names starting with '.' are ignored in
 * directories and trees: the readers skip them too (temporary files renamed
 * into place are seen by their final name). If a tree's subdirectory cannot be
 * watched (fs.inotify.max_user_watches reached), the target is reported for
 * polling every WATCH_RETRY_MS until it can.
 *
 * Single-threaded: the caller polls watch_fd() with watch_timeout() and calls
 * watch_run(), which invokes the callback for what is due. Times are
 * CLOCK_MONOTONIC milliseconds supplied by the caller.
 */
#ifndef REVOKD_WATCH_H
#define REVOKD_WATCH_H

#include <stddef.h>
#include <stdint.h>

/*
 * How long after a file event the change is reported. `openssl ca` ends an
 * update with four rename() calls in a row (index.txt -> .old, .new -> index.txt,
 * then the same for index.txt.attr), microseconds apart; a writer that creates
 * or truncates the file in place sends IN_CREATE before its data and
 * IN_CLOSE_WRITE after. 5 ms covers those sequences on a busy machine, so a sync
 * reads the finished file once, yet is small beside the 100 ms revocation
 * latency target. Each further event postpones the report by this much, up to
 * WATCH_DEBOUNCE_MAX_MS after the first, so a file rewritten continuously is
 * still synced.
 */
#define WATCH_DEBOUNCE_MS     5
#define WATCH_DEBOUNCE_MAX_MS 50

/*
 * While a target has no watch (its directory was moved away, deleted, or the
 * watch could not be added), re-adding it is tried, and the target reported for
 * polling, this often: the old default [indexer] interval, so a lost watch is
 * never worse than revokd before inotify.
 */
#define WATCH_RETRY_MS 1000

/* Levels below a WATCH_TREE root that are watched: <root>/<usage>/<id>. */
#define WATCH_TREE_DEPTH 2

struct watch;

enum watch_kind {
    WATCH_FILE, /* a file: its directory is watched, events on its name count */
    WATCH_DIR,  /* a directory: events on any name in it count */
    WATCH_TREE, /* a directory and its subdirectories down to WATCH_TREE_DEPTH */
};

struct watch_spec {
    const char *path;
    enum watch_kind kind;
};

enum watch_event {
    WATCH_CHANGED,  /* the file changed (debounced): sync it */
    WATCH_LOST,     /* the watch ended (err 0: the directory was moved or deleted) or could
                       not be added (err = errno); reported once per outage */
    WATCH_POLL,     /* still no (complete) watch: check the target as polling would */
    WATCH_RESTORED, /* the watch is back: sync, the file may have changed meanwhile */
};

typedef void (*watch_fn)(void *ctx, size_t idx, enum watch_event ev, int err);

/*
 * Watches the directories of paths[0..n-1] (target idx = position in paths;
 * the strings are copied). Returns 0, or a negative errno when inotify itself is
 * unavailable (inotify_init1 failed, e.g. -EMFILE). A directory that cannot be
 * watched now is not an error: the first watch_run() reports it WATCH_LOST and
 * polls it.
 */
int watch_open(struct watch **out, const char *const *paths, size_t n);
/* Like watch_open() with a kind per target (specs[i].path is copied). */
int watch_open_specs(struct watch **out, const struct watch_spec *specs, size_t n);
void watch_close(struct watch *w);

/* The descriptor to poll for POLLIN. */
int watch_fd(const struct watch *w);

/* Milliseconds from now until watch_run() has something due (0: now), -1: nothing. */
int64_t watch_timeout(const struct watch *w, int64_t now_ms);

/*
 * Reads every pending inotify event without blocking, then calls fn for each
 * target whose debounce ended, whose watch was lost or restored, or that is due
 * to be polled. Returns 0, or a negative errno when reading the inotify
 * descriptor failed (the caller should fall back to polling).
 */
int watch_run(struct watch *w, int64_t now_ms, watch_fn fn, void *ctx);

/* The directory watched for target idx (for log lines): a file's directory, or the path. */
const char *watch_dir(const struct watch *w, size_t idx);

/* How many targets have no watch now (they are polled every WATCH_RETRY_MS). */
size_t watch_unwatched(const struct watch *w);

#endif
