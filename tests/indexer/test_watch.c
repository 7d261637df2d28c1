/*
 * Tests for indexer/watch: in a temp directory, writing, renaming over,
 * deleting and touching an index file reports a change for that issuer only,
 * after the debounce, once per burst; other names in the directory report
 * nothing; a directory moved away is reported lost, polled, and restored when a
 * directory is at the path again; a missing directory at start is polled.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "watch.h"

#define MAX_TARGETS 4

static char root[64];
static char a_dir[128], b_dir[128], a_idx[160], b_idx[160], a2_idx[160];

struct seen {
    unsigned n[MAX_TARGETS][4]; /* [idx][event] */
    int last_err[MAX_TARGETS];
};

static void on_event(void *ctx, size_t idx, enum watch_event ev, int err)
{
    struct seen *s = ctx;
    cr_assert_lt(idx, MAX_TARGETS);
    s->n[idx][ev]++;
    s->last_err[idx] = err;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the watcher as the indexer does (poll with its timeout) for about ms. */
static void pump(struct watch *w, struct seen *s, int ms)
{
    int64_t end = mono_ms() + ms;
    for (;;) {
        int64_t now = mono_ms();
        if (now >= end)
            break;
        int64_t t = watch_timeout(w, now);
        if (t < 0 || t > end - now)
            t = end - now;
        struct pollfd pf = {.fd = watch_fd(w), .events = POLLIN};
        cr_assert_geq(poll(&pf, 1, (int)t), 0);
        cr_assert_eq(watch_run(w, mono_ms(), on_event, s), 0);
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static void setup(void)
{
    strcpy(root, "/tmp/revokd-watch-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    snprintf(a_dir, sizeof(a_dir), "%s/a", root);
    snprintf(b_dir, sizeof(b_dir), "%s/b", root);
    cr_assert_eq(mkdir(a_dir, 0755), 0);
    cr_assert_eq(mkdir(b_dir, 0755), 0);
    snprintf(a_idx, sizeof(a_idx), "%s/index.txt", a_dir);
    snprintf(b_idx, sizeof(b_idx), "%s/index.txt", b_dir);
    snprintf(a2_idx, sizeof(a2_idx), "%s/other-index.txt", a_dir);
    write_file(a_idx, "");
    write_file(b_idx, "");
    write_file(a2_idx, "");
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(watch, .init = setup, .fini = teardown);

/* Three issuers: a and a2 share directory a, b has its own. */
static struct watch *open3(void)
{
    const char *paths[] = {a_idx, b_idx, a2_idx};
    struct watch *w;
    cr_assert_eq(watch_open(&w, paths, 3), 0);
    cr_assert_eq(watch_unwatched(w), 0);
    cr_assert_eq(watch_timeout(w, mono_ms()), -1, "nothing due before any event");
    return w;
}

static void expect_counts(const struct seen *s, size_t idx, unsigned changed, unsigned lost,
                          unsigned poll_, unsigned restored)
{
    cr_expect_eq(s->n[idx][WATCH_CHANGED], changed, "target %zu: %u changes, expected %u", idx,
                 s->n[idx][WATCH_CHANGED], changed);
    cr_expect_eq(s->n[idx][WATCH_LOST], lost, "target %zu: %u lost, expected %u", idx,
                 s->n[idx][WATCH_LOST], lost);
    cr_expect_eq(s->n[idx][WATCH_POLL], poll_, "target %zu: %u polls, expected %u", idx,
                 s->n[idx][WATCH_POLL], poll_);
    cr_expect_eq(s->n[idx][WATCH_RESTORED], restored, "target %zu: %u restored, expected %u", idx,
                 s->n[idx][WATCH_RESTORED], restored);
}

Test(watch, rename_over_reports_that_issuer_once)
{
    struct watch *w = open3();
    struct seen s = {0};
    /* What openssl ca -revoke does, then the same for index.txt.attr. */
    char tmp[200], old[200], attr[200], attr_new[200];
    snprintf(tmp, sizeof(tmp), "%s.new", b_idx);
    snprintf(old, sizeof(old), "%s.old", b_idx);
    snprintf(attr, sizeof(attr), "%s.attr", b_idx);
    snprintf(attr_new, sizeof(attr_new), "%s.attr.new", b_idx);
    write_file(tmp, "R\t300101000000Z\t240101000000Z\t10\tunknown\t/CN=x\n");
    write_file(attr_new, "unique_subject = no\n");
    cr_assert_eq(rename(b_idx, old), 0);
    cr_assert_eq(rename(tmp, b_idx), 0);
    cr_assert_eq(rename(attr_new, attr), 0);
    pump(w, &s, 100);
    expect_counts(&s, 1, 1, 0, 0, 0);
    expect_counts(&s, 0, 0, 0, 0, 0);
    expect_counts(&s, 2, 0, 0, 0, 0);
    watch_close(w);
}

Test(watch, change_is_reported_after_the_debounce_not_before)
{
    struct watch *w = open3();
    struct seen s = {0};
    write_file(a_idx, "V\t300101000000Z\t\t10\tunknown\t/CN=x\n");
    struct pollfd pf = {.fd = watch_fd(w), .events = POLLIN};
    cr_assert_eq(poll(&pf, 1, 1000), 1, "inotify reported nothing within 1 s");
    int64_t t0 = mono_ms();
    cr_assert_eq(watch_run(w, t0, on_event, &s), 0);
    expect_counts(&s, 0, 0, 0, 0, 0); /* still debouncing */
    cr_expect_eq(watch_timeout(w, t0), WATCH_DEBOUNCE_MS);
    cr_assert_eq(watch_run(w, t0 + WATCH_DEBOUNCE_MS - 1, on_event, &s), 0);
    expect_counts(&s, 0, 0, 0, 0, 0);
    cr_assert_eq(watch_run(w, t0 + WATCH_DEBOUNCE_MS, on_event, &s), 0);
    expect_counts(&s, 0, 1, 0, 0, 0);
    expect_counts(&s, 2, 0, 0, 0, 0); /* same directory, other name */
    cr_expect_eq(watch_timeout(w, t0 + WATCH_DEBOUNCE_MS), -1);
    watch_close(w);
}

Test(watch, continuous_writes_are_still_reported_within_the_cap)
{
    struct watch *w = open3();
    struct seen s = {0};
    int64_t t0 = mono_ms();
    /* An event every 2 ms keeps postponing; the cap must end the wait. */
    int64_t t = t0;
    for (; t <= t0 + WATCH_DEBOUNCE_MAX_MS + 10; t += 2) {
        write_file(a_idx, "x\n");
        struct pollfd pf = {.fd = watch_fd(w), .events = POLLIN};
        cr_assert_eq(poll(&pf, 1, 1000), 1);
        cr_assert_eq(watch_run(w, t, on_event, &s), 0);
        if (s.n[0][WATCH_CHANGED])
            break;
    }
    cr_expect_eq(s.n[0][WATCH_CHANGED], 1);
    cr_expect_leq(t - t0, WATCH_DEBOUNCE_MAX_MS);
    watch_close(w);
}

Test(watch, unrelated_names_report_nothing)
{
    struct watch *w = open3();
    struct seen s = {0};
    char p[200];
    static const char *names[] = {"index.txt.attr", "serial",     "index.txt.old", "crlnumber",
                                  "index.txt.new",  "index.txtx", "ndex.txt"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", a_dir, names[i]);
        write_file(p, "x\n");
        chmod(p, 0600);
        cr_assert_eq(unlink(p), 0);
    }
    snprintf(p, sizeof(p), "%s/newcerts", a_dir);
    cr_assert_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/newcerts/index.txt", a_dir); /* same name, other directory */
    write_file(p, "x\n");
    pump(w, &s, 100);
    for (size_t i = 0; i < 3; i++)
        expect_counts(&s, i, 0, 0, 0, 0);
    watch_close(w);
}

Test(watch, delete_create_and_chmod_each_report)
{
    struct watch *w = open3();
    struct seen s = {0};
    cr_assert_eq(unlink(a2_idx), 0); /* IN_DELETE */
    pump(w, &s, 50);
    expect_counts(&s, 2, 1, 0, 0, 0);
    int fd = open(a2_idx, O_CREAT | O_WRONLY, 0644); /* IN_CREATE, not yet closed */
    cr_assert_geq(fd, 0);
    pump(w, &s, 50);
    expect_counts(&s, 2, 2, 0, 0, 0);
    cr_assert_eq(close(fd), 0); /* IN_CLOSE_WRITE */
    pump(w, &s, 50);
    expect_counts(&s, 2, 3, 0, 0, 0);
    cr_assert_eq(chmod(a2_idx, 0600), 0); /* IN_ATTRIB */
    pump(w, &s, 50);
    expect_counts(&s, 2, 4, 0, 0, 0);
    expect_counts(&s, 0, 0, 0, 0, 0);
    expect_counts(&s, 1, 0, 0, 0, 0);
    watch_close(w);
}

Test(watch, directory_moved_away_and_back)
{
    struct watch *w = open3();
    struct seen s = {0};
    char away[200];
    snprintf(away, sizeof(away), "%s/a.away", root);
    cr_assert_eq(rename(a_dir, away), 0);
    pump(w, &s, 50);
    /* Both targets of directory a lost and polled at once; b untouched. */
    expect_counts(&s, 0, 0, 1, 1, 0);
    expect_counts(&s, 2, 0, 1, 1, 0);
    expect_counts(&s, 1, 0, 0, 0, 0);
    cr_expect_eq(s.last_err[0], ENOENT);
    cr_expect_eq(watch_unwatched(w), 2);
    /* A change in the moved directory is not at the path: not reported. */
    char moved_idx[220];
    snprintf(moved_idx, sizeof(moved_idx), "%s/index.txt", away);
    write_file(moved_idx, "y\n");
    /* Still away after WATCH_RETRY_MS: polled again, lost not repeated. */
    pump(w, &s, WATCH_RETRY_MS + 100);
    expect_counts(&s, 0, 0, 1, 2, 0);
    cr_assert_eq(rename(away, a_dir), 0);
    pump(w, &s, WATCH_RETRY_MS + 100);
    expect_counts(&s, 0, 0, 1, 2, 1);
    expect_counts(&s, 2, 0, 1, 2, 1);
    cr_expect_eq(watch_unwatched(w), 0);
    /* And it is followed again. */
    write_file(a_idx, "z\n");
    pump(w, &s, 50);
    expect_counts(&s, 0, 1, 1, 2, 1);
    expect_counts(&s, 2, 0, 1, 2, 1);
    watch_close(w);
}

Test(watch, directory_replaced_is_watched_at_once)
{
    struct watch *w = open3();
    struct seen s = {0};
    char fresh[200], away[200], fresh_idx[220];
    snprintf(fresh, sizeof(fresh), "%s/a.new", root);
    snprintf(away, sizeof(away), "%s/a.old", root);
    snprintf(fresh_idx, sizeof(fresh_idx), "%s/index.txt", fresh);
    cr_assert_eq(mkdir(fresh, 0755), 0);
    write_file(fresh_idx, "n\n");
    cr_assert_eq(rename(a_dir, away), 0);
    cr_assert_eq(rename(fresh, a_dir), 0);
    pump(w, &s, 50);
    /* Lost (moved), then the new directory at the path watched in the same run. */
    expect_counts(&s, 0, 0, 1, 0, 1);
    cr_expect_eq(watch_unwatched(w), 0);
    write_file(a_idx, "m\n");
    pump(w, &s, 50);
    expect_counts(&s, 0, 1, 1, 0, 1);
    /* The old directory, now elsewhere, is no longer followed. */
    char old_idx[220];
    snprintf(old_idx, sizeof(old_idx), "%s/index.txt", away);
    write_file(old_idx, "o\n");
    pump(w, &s, 50);
    expect_counts(&s, 0, 1, 1, 0, 1);
    watch_close(w);
}

Test(watch, directory_deleted_then_recreated)
{
    struct watch *w = open3();
    struct seen s = {0};
    cr_assert_eq(unlink(b_idx), 0);
    cr_assert_eq(rmdir(b_dir), 0);
    pump(w, &s, 50);
    cr_expect_eq(s.n[1][WATCH_LOST], 1);
    cr_expect_geq(s.n[1][WATCH_POLL], 1);
    cr_expect_eq(watch_unwatched(w), 1);
    cr_assert_eq(mkdir(b_dir, 0755), 0);
    pump(w, &s, WATCH_RETRY_MS + 100);
    cr_expect_eq(s.n[1][WATCH_RESTORED], 1);
    write_file(b_idx, "b\n");
    pump(w, &s, 50);
    cr_expect_geq(s.n[1][WATCH_CHANGED], 1);
    expect_counts(&s, 0, 0, 0, 0, 0);
    watch_close(w);
}

Test(watch, missing_directory_at_start_is_polled)
{
    char nodir[200];
    snprintf(nodir, sizeof(nodir), "%s/absent/index.txt", root);
    const char *paths[] = {a_idx, nodir, "index.txt"};
    struct watch *w;
    cr_assert_eq(watch_open(&w, paths, 3), 0);
    char absent[200];
    snprintf(absent, sizeof(absent), "%s/absent", root);
    cr_expect_str_eq(watch_dir(w, 1), absent);
    struct seen s = {0};
    cr_expect_eq(watch_timeout(w, mono_ms()), 0, "the failed watch is due at once");
    pump(w, &s, 20);
    expect_counts(&s, 1, 0, 1, 1, 0);
    cr_expect_eq(s.last_err[1], ENOENT);
    cr_expect_str_eq(watch_dir(w, 2), ".");
    watch_close(w);
}

Test(watch, bad_paths_are_refused)
{
    struct watch *w = (struct watch *)1;
    const char *empty[] = {""};
    cr_expect_eq(watch_open(&w, empty, 1), -EINVAL);
    cr_expect_null(w);
    const char *dir_only[] = {"/tmp/"};
    cr_expect_eq(watch_open(&w, dir_only, 1), -EINVAL);
}

/* ---- issue 8: directories (cert_dir) and trees (a CertMate store) ---- */

static void mkdir_p(const char *p)
{
    cr_assert_eq(mkdir(p, 0755), 0, "%s: %s", p, strerror(errno));
}

static void write_in(const char *dir, const char *name, const char *text)
{
    char p[400];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    write_file(p, text);
}

/* Target 0: cert dir a (WATCH_DIR); 1: tree b (WATCH_TREE); 2: index.txt in a (WATCH_FILE,
 * sharing a's kernel watch with target 0). */
static struct watch *open_kinds(void)
{
    struct watch_spec specs[] = {
        {.path = a_dir, .kind = WATCH_DIR},
        {.path = b_dir, .kind = WATCH_TREE},
        {.path = a_idx, .kind = WATCH_FILE},
    };
    struct watch *w;
    cr_assert_eq(watch_open_specs(&w, specs, 3), 0);
    cr_expect_str_eq(watch_dir(w, 0), a_dir);
    cr_expect_str_eq(watch_dir(w, 1), b_dir);
    return w;
}

Test(watch, cert_dir_any_file_counts)
{
    struct watch *w = open_kinds();
    struct seen s = {0};
    write_in(a_dir, "1001.pem", "x\n"); /* a new certificate */
    pump(w, &s, 50);
    expect_counts(&s, 0, 1, 0, 0, 0);
    expect_counts(&s, 2, 0, 0, 0, 0); /* index.txt untouched */
    expect_counts(&s, 1, 0, 0, 0, 0);
    write_in(a_dir, ".1002.pem.tmp", "x\n"); /* a writer's temporary file: ignored */
    pump(w, &s, 50);
    expect_counts(&s, 0, 1, 0, 0, 0);
    char from[300], to[300];
    snprintf(from, sizeof(from), "%s/.1002.pem.tmp", a_dir);
    snprintf(to, sizeof(to), "%s/1002.pem", a_dir);
    cr_assert_eq(rename(from, to), 0); /* ... renamed into place: seen by its final name */
    pump(w, &s, 50);
    expect_counts(&s, 0, 2, 0, 0, 0);
    snprintf(from, sizeof(from), "%s/gone.pem", root);
    cr_assert_eq(rename(to, from), 0); /* renamed out of the directory: gone */
    pump(w, &s, 50);
    expect_counts(&s, 0, 3, 0, 0, 0);
    write_file(a_idx, "V\n"); /* both the dir and the file target see index.txt */
    pump(w, &s, 50);
    expect_counts(&s, 0, 4, 0, 0, 0);
    expect_counts(&s, 2, 1, 0, 0, 0);
    watch_close(w);
}

Test(watch, tree_follows_new_directories)
{
    struct watch *w = open_kinds();
    struct seen s = {0};
    char usage[200], id[260], deep[300];
    snprintf(usage, sizeof(usage), "%s/vpn", b_dir);
    snprintf(id, sizeof(id), "%s/cert-001", usage);
    snprintf(deep, sizeof(deep), "%s/deeper", id);
    mkdir_p(usage);
    mkdir_p(id);
    write_in(id, "cert.crt", "c\n");
    pump(w, &s, 50);
    unsigned after_create = s.n[1][WATCH_CHANGED];
    cr_expect_geq(after_create, 1);
    /* The new <id> directory has its own watch now: a change of its metadata counts. */
    write_in(id, "metadata.json", "{}\n");
    pump(w, &s, 50);
    cr_expect_eq(s.n[1][WATCH_CHANGED], after_create + 1);
    /* Below <root>/<usage>/<id> nothing is watched. */
    mkdir_p(deep);
    pump(w, &s, 50);
    unsigned n = s.n[1][WATCH_CHANGED];
    write_in(deep, "x", "x\n");
    pump(w, &s, 50);
    cr_expect_eq(s.n[1][WATCH_CHANGED], n, "depth 3 is not watched");
    expect_counts(&s, 0, 0, 0, 0, 0);
    watch_close(w);
}

Test(watch, tree_directory_moved_in_is_followed)
{
    /* A certificate directory prepared elsewhere and renamed into the store whole. */
    char usage[200], staged[200], staged_id[260], id[260];
    snprintf(usage, sizeof(usage), "%s/api", b_dir);
    mkdir_p(usage);
    struct watch *w = open_kinds();
    struct seen s = {0};
    snprintf(staged, sizeof(staged), "%s/staged", root);
    mkdir_p(staged);
    write_in(staged, "cert.crt", "c\n");
    snprintf(staged_id, sizeof(staged_id), "%s", staged);
    snprintf(id, sizeof(id), "%s/cert-002", usage);
    cr_assert_eq(rename(staged_id, id), 0);
    pump(w, &s, 50);
    unsigned n = s.n[1][WATCH_CHANGED];
    cr_expect_geq(n, 1);
    write_in(id, "metadata.json", "{}\n");
    pump(w, &s, 50);
    cr_expect_eq(s.n[1][WATCH_CHANGED], n + 1, "the moved-in directory is watched");
    watch_close(w);
}

Test(watch, tree_existing_at_start_and_after_restore)
{
    char usage[200], id[260], away[200];
    snprintf(usage, sizeof(usage), "%s/other", b_dir);
    snprintf(id, sizeof(id), "%s/cert-003", usage);
    mkdir_p(usage);
    mkdir_p(id);
    struct watch *w = open_kinds();
    struct seen s = {0};
    write_in(id, "metadata.json", "{\"revocation\":{}}\n");
    pump(w, &s, 50);
    expect_counts(&s, 1, 1, 0, 0, 0);
    /* The whole store moved away and back: lost, polled, restored, and its
     * subdirectories watched again. */
    snprintf(away, sizeof(away), "%s/b.away", root);
    cr_assert_eq(rename(b_dir, away), 0);
    pump(w, &s, 50);
    cr_expect_eq(s.n[1][WATCH_LOST], 1);
    cr_assert_eq(rename(away, b_dir), 0);
    pump(w, &s, WATCH_RETRY_MS + 100);
    cr_expect_eq(s.n[1][WATCH_RESTORED], 1);
    unsigned n = s.n[1][WATCH_CHANGED];
    write_in(id, "metadata.json", "{\"revocation\":{\"revoked\":true}}\n");
    pump(w, &s, 50);
    cr_expect_eq(s.n[1][WATCH_CHANGED], n + 1, "cert-003 watched again after the restore");
    expect_counts(&s, 0, 0, 0, 0, 0);
    watch_close(w);
}
