/*
 * hugemap_prep — the page-cache side of bench/hugemap.sh: whether a file mapped the
 * way LMDB maps the store (mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0)) gets
 * 2 MiB page-table entries, and what it takes. `reread FILE` makes a store file's
 * page cache hold PMD-sized folios (drop its clean unmapped pages with
 * POSIX_FADV_DONTNEED, then fault it back in through a MADV_HUGEPAGE map with
 * MADV_POPULATE_READ, so readahead allocates 2 MiB folios) and prints what each
 * step cost; `claims DIR` checks the kernel behaviour the experiment rests on, on
 * a scratch file it writes in DIR the way LMDB writes (4 KiB pwrite, fsync);
 * `show FILE` maps FILE and prints what is mapped with 2 MiB entries after a
 * populate. Every result is read from /proc/self/smaps (FilePmdMapped,
 * ShmemPmdMapped), never assumed.
 *
 *   hugemap_prep reread FILE | claims DIR | show FILE
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* kB of the VMA starting at addr mapped with PMDs, or -1 when smaps does not say. */
static long pmd_kb(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "re");
    if (!f)
        return -1;
    char line[512];
    long kb = -1;
    int in = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long a, b, v;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2) {
            if (in)
                break;
            in = a == (unsigned long)addr;
            if (in)
                kb = 0;
        } else if (in && (sscanf(line, "FilePmdMapped: %lu kB", &v) == 1 ||
                          sscanf(line, "ShmemPmdMapped: %lu kB", &v) == 1)) {
            kb += (long)v;
        }
    }
    fclose(f);
    return kb;
}

/*
 * Maps path like LMDB's read-only environment; opts: 'h' MADV_HUGEPAGE, 'e' evict
 * first, 'c' MADV_COLLAPSE after the populate, 'w' keep a second descriptor open
 * for writing meanwhile. Prints one line; returns the kB mapped with PMDs or -1.
 */
static long map_once(const char *path, const char *opts, const char *what)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), wfd = -1;
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (strchr(opts, 'w'))
        wfd = open(path, O_WRONLY | O_CLOEXEC);
    size_t len = (size_t)sb.st_size;
    double t0 = now_s(), evict = 0, pop, coll = 0;
    int cerr = 0;
    if (strchr(opts, 'e')) {
        int rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        if (rc)
            fprintf(stderr, "posix_fadvise: %s\n", strerror(rc));
        evict = now_s() - t0;
    }
    uint8_t *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "mmap: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    if (strchr(opts, 'h') && madvise(p, len, MADV_HUGEPAGE) < 0)
        fprintf(stderr, "MADV_HUGEPAGE: %s\n", strerror(errno));
    t0 = now_s();
    if (madvise(p, len, MADV_POPULATE_READ) < 0)
        fprintf(stderr, "MADV_POPULATE_READ: %s\n", strerror(errno));
    pop = now_s() - t0;
    if (strchr(opts, 'c')) {
        t0 = now_s();
        cerr = madvise(p, len, MADV_COLLAPSE) < 0 ? errno : 0;
        coll = now_s() - t0;
    }
    long kb = pmd_kb(p);
    printf("%-46s map %s 2 MiB-aligned, %zu MB, evict %.3f s, populate %.3f s", what,
           ((uintptr_t)p & ((2u << 20) - 1)) ? "NOT" : "is", len >> 20, evict, pop);
    if (strchr(opts, 'c'))
        printf(", MADV_COLLAPSE %s (%.3f s)", cerr ? strerror(cerr) : "ok", coll);
    printf(": %ld MB with 2 MiB entries\n", kb < 0 ? -1 : kb >> 10);
    munmap(p, len);
    if (wfd >= 0)
        close(wfd);
    close(fd);
    return kb;
}

/* A scratch file written as LMDB writes the store: 4 KiB pwrites, then fsync. */
static int write_scratch(const char *path, size_t mb)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    uint8_t page[4096];
    for (size_t i = 0; i < sizeof(page); i++)
        page[i] = (uint8_t)(i * 131u + 7u);
    for (size_t off = 0; off < (mb << 20); off += sizeof(page))
        if (pwrite(fd, page, sizeof(page), (off_t)off) != (ssize_t)sizeof(page)) {
            int e = -errno;
            close(fd);
            return e;
        }
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int claims(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/hugemap-scratch.dat", dir);
    int rc;
    /* each check on a freshly written file: its page cache in the folios the writes made */
    static const struct {
        const char *opts, *what;
    } c[] = {
        {"", "just written, no advice"},
        {"h", "just written, MADV_HUGEPAGE"},
        {"c", "just written, MADV_COLLAPSE"},
        {"hcw", "just written, open for writing, MADV_COLLAPSE"},
        {"e", "evicted, no advice"},
        {"eh", "evicted, MADV_HUGEPAGE"},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        if ((rc = write_scratch(path, 256)) < 0) {
            fprintf(stderr, "%s: %s\n", path, strerror(-rc));
            return 1;
        }
        map_once(path, c[i].opts, c[i].what);
    }
    /* the large folios stay in the page cache: the next plain map gets PMDs too */
    map_once(path, "", "after the last: mapped again, no advice");
    unlink(path);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "claims") == 0)
        return claims(argv[2]);
    if (argc == 3 && strcmp(argv[1], "reread") == 0)
        return map_once(argv[2], "eh", "evicted, MADV_HUGEPAGE") < 0;
    if (argc == 3 && strcmp(argv[1], "show") == 0)
        return map_once(argv[2], "", "as it is, no advice") < 0;
    fprintf(stderr, "usage: hugemap_prep reread FILE | claims DIR | show FILE\n");
    return 2;
}
