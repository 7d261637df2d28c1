/*
 * sandbox — builds and loads the responder's seccomp filter (see sandbox.h).
 *
 * The lists below are what the responder was seen to call once serving, under
 * `strace -f` over the end-to-end scenarios of both backends (requests, live
 * signing, /healthz with a signer, SIGHUP reopen of a replaced store, store
 * warm-up, hostile HTTP, stop), plus what code those runs did not take can reach
 * (each noted: e.g. LMDB creating a missing lock file, glibc's realloc of a
 * mapped chunk). docs/operations-guide.md, "Sandbox", says how to re-derive them.
 * Everything else fails with EPERM rather than killing the process: a call we
 * missed then shows as an error in the log and a failed answer, not as a dead
 * responder that every relying party sees at once; and an attacker gains
 * nothing from the error code.
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* AddressSanitizer's leak check at exit stops the world: it clones a tracer that
 * ptrace()s every thread and reads /proc. And a thread that starts after the
 * filter (the warm-up thread, when it is scheduled late) runs ASan's thread set-up
 * first, whose pthread_getattr_np() reads the thread's CPU affinity: refused, ASan
 * aborts the process (seen once in CI, libev, a loaded machine). Sanitizer builds
 * (tests only) allow those few calls too; release builds never do. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_ASAN 1
#endif
#endif

/* Both backends, with no argument check. */
static const char *const sandbox_common[] = {
    /* connections, eventfd wake-ups, stderr (seen); writev: glibc's fatal messages */
    "read",
    "write",
    "writev",
    "close",
    "shutdown",
    "setsockopt", /* TCP_NODELAY, SO_SNDBUF on each accepted socket */
    /* the live signer's Unix socket (socket() itself is argument-checked) */
    "connect",
    "sendto",
    "recvfrom",
    "sendmsg",
    /* time: vDSO normally, the system call on clock sources without it; waits */
    "clock_gettime",
    "clock_nanosleep",
    /* threads and memory: malloc (brk, mremap on a realloc of a mapped chunk),
     * thread exit (madvise, munmap of its stack), a thread that starts while the
     * filter goes in (rseq, set_robust_list: the warm-up thread), store warm-up and
     * release (madvise) */
    "futex",
    "madvise",
    "munmap",
    "mremap",
    "brk",
    "rseq",
    "set_robust_list",
    /* signals: main's sigtimedwait; rt_sigreturn after any handler */
    "rt_sigtimedwait",
    "rt_sigprocmask",
    "rt_sigreturn",
    "getpid",
    "gettid",
    /* SIGHUP reopen: mdb_env_open (stat of data.mdb, fcntl locks, meta pages by
     * pread, fstatfs and uname for its file system and kernel checks; ftruncate
     * when it creates lock.mdb, as after a restore from mdb_copy), the warm-up's
     * /proc/self/maps (openat is argument-checked) */
    "newfstatat",
    "fstatfs",
    "uname",
    "lseek",
    "pread64",
    "fcntl",
    "ftruncate",
    "exit",
    "exit_group",
};

/* io_uring: every socket operation goes through the (restricted) ring. */
static const char *const sandbox_uring[] = {"io_uring_enter"};

/* libev: epoll and the calls that move bytes directly. */
static const char *const sandbox_ev[] = {"epoll_wait", "epoll_ctl", "accept4"};

#ifdef SANDBOX_ASAN
static const char *const sandbox_asan[] = {
    /* the leak check's tracer */
    "clone",
    "clone3",
    "ptrace",
    "wait4",
    "prctl",
    "sigaltstack",
    "rt_sigaction",
    "getdents64",
    "readlink",
    "readlinkat",
    "getppid",
    "sched_yield",
    "getdents",
    /* ASan's set-up of a thread that starts after the filter */
    "sched_getaffinity",
};
#endif

static int sandbox_add(scmp_filter_ctx f, const char *const *names, size_t n, unsigned *count)
{
    for (size_t i = 0; i < n; i++) {
        int nr = seccomp_syscall_resolve_name(names[i]);
        if (nr == __NR_SCMP_ERROR)
            return -EINVAL;
        int rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 0);
        if (rc == -EEXIST)
            continue; /* a sanitizer build lists an argument-checked call again */
        if (rc < 0)
            return rc;
        (*count)++;
    }
    return 0;
}

/* The calls allowed only with some arguments (see sandbox.h). */
static int sandbox_add_checked(scmp_filter_ctx f, unsigned *count)
{
    const scmp_datum_t pid = (scmp_datum_t)getpid();
    const scmp_datum_t no_write = O_WRONLY | O_TRUNC | O_APPEND;
    int rc;
    /* The live signer and /healthz's probe of it: Unix sockets only. */
    if ((rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                               SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0))) < 0)
        return rc;
    /* mdb_env_open on SIGHUP (data.mdb read-only, lock.mdb O_RDWR|O_CREAT: LMDB's
     * reader table) and /proc/self/maps for the warm-up. */
    if ((rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                               SCMP_A2(SCMP_CMP_MASKED_EQ, no_write, 0))) < 0)
        return rc;
    /* Memory for malloc, thread stacks and LMDB's maps, never executable. */
    if ((rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                               SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0 ||
        (rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                               SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0)
        return rc;
    /* A worker wakes main with kill(getpid(), SIGUSR1); abort() signals itself. */
    if ((rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
                               SCMP_A0(SCMP_CMP_EQ, pid, 0))) < 0 ||
        (rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                               SCMP_A0(SCMP_CMP_EQ, pid, 0))) < 0)
        return rc;
    *count += 6;
#ifdef SANDBOX_ASAN
    /* LeakSanitizer's tracer lists /proc/PID/task with the old open(). */
    if ((rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
                               SCMP_A1(SCMP_CMP_MASKED_EQ, no_write, 0))) < 0)
        return rc;
    (*count)++;
#endif
    return 0;
}

int sandbox_install(const char *backend, unsigned *n_allowed)
{
    const char *const *extra;
    size_t n_extra;
    unsigned count = 0;
    if (strcmp(backend, "io_uring") == 0) {
        extra = sandbox_uring;
        n_extra = sizeof(sandbox_uring) / sizeof(sandbox_uring[0]);
    } else if (strcmp(backend, "libev") == 0) {
        extra = sandbox_ev;
        n_extra = sizeof(sandbox_ev) / sizeof(sandbox_ev[0]);
    } else {
        return -EINVAL;
    }
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!f)
        return -ENOMEM;
    int rc;
    if ((rc = seccomp_attr_set(f, SCMP_FLTATR_CTL_TSYNC, 1)) < 0 ||
        (rc = seccomp_attr_set(f, SCMP_FLTATR_CTL_NNP, 1)) < 0 ||
        (rc = sandbox_add_checked(f, &count)) < 0 ||
        (rc = sandbox_add(f, sandbox_common, sizeof(sandbox_common) / sizeof(sandbox_common[0]),
                          &count)) < 0 ||
        (rc = sandbox_add(f, extra, n_extra, &count)) < 0)
        goto fail;
#ifdef SANDBOX_ASAN
    if ((rc = sandbox_add(f, sandbox_asan, sizeof(sandbox_asan) / sizeof(sandbox_asan[0]),
                          &count)) < 0)
        goto fail;
#endif
    if ((rc = seccomp_load(f)) < 0)
        goto fail;
    seccomp_release(f);
    *n_allowed = count;
    return 0;

fail:
    seccomp_release(f);
    return rc < 0 ? rc : -EINVAL;
}
