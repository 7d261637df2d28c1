/*
 * Tests for responder/sandbox: in a forked child (a filter is for life), install
 * exactly the filter the responder installs for a backend, then check what the
 * kernel does: the calls an attacker would want (execve, a raw or TCP socket,
 * ptrace, fork, opening a file for writing, executable memory, signalling
 * another process) fail with EPERM and have no effect, while what serving needs
 * (clock_gettime and read as real system calls, a Unix socket for the signer,
 * reading /proc) still works, and /proc/self/status says "Seccomp: 2". A thread
 * cannot be started under the filter; in sanitizer builds, which allow clone for
 * LeakSanitizer, one can, and ASan's set-up of it must pass the filter (the
 * responder's warm-up thread, scheduled late, runs that set-up after the filter).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

/* One distinct exit code per failed check, 0 if all held. */
enum {
    OK = 0,
    E_INSTALL = 10,
    E_COUNT,
    E_STATUS,
    E_CLOCK,
    E_READ,
    E_UNIX,
    E_EXECVE,
    E_RAW,
    E_TCP,
    E_PTRACE,
    E_FORK,
    E_OPEN_WRITE,
    E_CREATED,
    E_OPEN_APPEND,
    E_MMAP_EXEC,
    E_KILL_OTHER,
    E_KILL_SELF,
    E_THREAD,
};

static const char *const names[] = {
    [E_INSTALL] = "sandbox_install failed",
    [E_COUNT] = "implausible number of allowed calls",
    [E_STATUS] = "/proc/self/status does not say Seccomp: 2",
    [E_CLOCK] = "clock_gettime (the system call) refused",
    [E_READ] = "read refused",
    [E_UNIX] = "socket(AF_UNIX) refused",
    [E_EXECVE] = "execve not refused with EPERM",
    [E_RAW] = "socket(AF_INET, SOCK_RAW) not refused with EPERM",
    [E_TCP] = "socket(AF_INET, SOCK_STREAM) not refused with EPERM",
    [E_PTRACE] = "ptrace not refused with EPERM",
    [E_FORK] = "fork not refused with EPERM",
    [E_OPEN_WRITE] = "open(O_WRONLY|O_CREAT) not refused with EPERM",
    [E_CREATED] = "the refused open created the file all the same",
    [E_OPEN_APPEND] = "open(O_APPEND) not refused with EPERM",
    [E_MMAP_EXEC] = "mmap(PROT_EXEC) not refused with EPERM",
    [E_KILL_OTHER] = "kill of another process not refused with EPERM",
    [E_KILL_SELF] = "kill(getpid(), 0) refused",
#ifdef TEST_ASAN
    [E_THREAD] = "a thread started after the filter did not run (ASan's thread set-up refused?)",
#else
    [E_THREAD] = "a thread could be started under the filter (clone allowed)",
#endif
};

static void *thread_ran(void *arg)
{
    *(volatile int *)arg = 1;
    return NULL;
}

/* errno of a call expected to be refused: EPERM, or something else if not. */
#define REFUSED(call) ((call) < 0 && errno == EPERM)

static int child(const char *backend, const char *dir, pid_t other)
{
    unsigned n = 0;
    char path[4096], buf[4096];
    if (sandbox_install(backend, &n) < 0)
        return E_INSTALL;
    if (n < 20 || n > 80)
        return E_COUNT;

    /* Allowed: what serving needs. */
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    ssize_t len = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (len <= 0)
        return E_READ;
    buf[len] = 0;
    close(fd);
    if (!strstr(buf, "\nSeccomp:\t2\n"))
        return E_STATUS;
    struct timespec ts;
    if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0)
        return E_CLOCK;
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return E_UNIX;
    close(fd);
    if (kill(getpid(), 0) != 0)
        return E_KILL_SELF;

    /* Refused: what an attacker would want. */
    char *const argv[] = {"/bin/true", NULL};
    if (!REFUSED(execve("/bin/true", argv, environ)))
        return E_EXECVE;
    if (!REFUSED(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)))
        return E_RAW;
    if (!REFUSED(socket(AF_INET, SOCK_STREAM, 0)))
        return E_TCP;
#ifndef TEST_ASAN /* sanitizer builds allow ptrace and clone for LeakSanitizer (sandbox.c) */
    if (!REFUSED(ptrace(PTRACE_TRACEME, 0, NULL, NULL)))
        return E_PTRACE;
    if (!REFUSED(syscall(SYS_fork)))
        return E_FORK;
#endif
    snprintf(path, sizeof(path), "%s/new-file", dir);
    if (!REFUSED(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)))
        return E_OPEN_WRITE;
    if (!REFUSED(open("/proc/self/status", O_RDONLY | O_APPEND | O_CLOEXEC)))
        return E_OPEN_APPEND;
    void *exec = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!(exec == MAP_FAILED && errno == EPERM))
        return E_MMAP_EXEC;
    if (!REFUSED(kill(other, 0)))
        return E_KILL_OTHER;

    pthread_t t;
    volatile int ran = 0;
    int rc = pthread_create(&t, NULL, thread_ran, (void *)&ran);
    if (rc == 0)
        pthread_join(t, NULL);
#ifdef TEST_ASAN
    if (rc != 0 || !ran)
        return E_THREAD;
#else
    if (rc == 0)
        return E_THREAD;
#endif
    return OK;
}

static void check_backend(const char *backend)
{
    const char *tmp = getenv("TMPDIR");
    char tdir[4096];
    snprintf(tdir, sizeof(tdir), "%s/revokd-sandbox-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char *d = mkdtemp(tdir);
    cr_assert_not_null(d, "mkdtemp: %s", strerror(errno));
    /* A process the child must not be able to signal: the test itself. */
    pid_t other = getpid();
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0)
        _exit(child(backend, d, other));
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    char path[4200];
    snprintf(path, sizeof(path), "%s/new-file", d);
    bool created = access(path, F_OK) == 0;
    unlink(path);
    rmdir(d);
    cr_assert(!created, "backend %s: %s", backend, names[E_CREATED]);
    cr_assert(WIFEXITED(status), "backend %s: the sandboxed child died of signal %d", backend,
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    int code = WEXITSTATUS(status);
    cr_assert_eq(code, OK, "backend %s: %s (exit %d)", backend,
                 code >= E_INSTALL && code <= E_THREAD ? names[code] : "unexpected exit", code);
}

Test(sandbox, io_uring_filter_refuses_what_an_attacker_wants)
{
    check_backend("io_uring");
}

Test(sandbox, libev_filter_refuses_what_an_attacker_wants)
{
    check_backend("libev");
}

Test(sandbox, unknown_backend_installs_nothing)
{
    unsigned n = 7;
    cr_assert_eq(sandbox_install("select", &n), -EINVAL);
    cr_assert_eq(n, 7);
    /* Nothing installed: this process may still do what the filter forbids. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0, "socket(AF_INET) after a refused install: %s", strerror(errno));
    close(fd);
}

/* The filter differs between backends where it should: io_uring_enter only for io_uring,
 * epoll only for libev. */
static int child_cross(const char *backend)
{
    unsigned n;
    if (sandbox_install(backend, &n) < 0)
        return E_INSTALL;
    long r1 = syscall(SYS_epoll_create1, 0);
    int e1 = errno;
    long r2 = syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0);
    int e2 = errno;
    /* epoll_create1 is set-up only: refused on both. io_uring_enter on a bad fd: EBADF
     * when allowed, EPERM when not. */
    if (!(r1 < 0 && e1 == EPERM))
        return 1;
    if (strcmp(backend, "io_uring") == 0)
        return r2 < 0 && e2 == EBADF ? OK : 2;
    return r2 < 0 && e2 == EPERM ? OK : 3;
}

static void check_cross(const char *backend)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(child_cross(backend));
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == OK, "backend %s: cross check %d", backend,
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

Test(sandbox, io_uring_enter_only_on_io_uring)
{
    check_cross("io_uring");
    check_cross("libev");
}
