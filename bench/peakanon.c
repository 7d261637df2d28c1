/*
 * peakanon — the exact peak private (anonymous) memory of a command, which the
 * kernel does not keep: VmHWM counts file pages too (a program reading a
 * memory-mapped store has its file pages in it), and sampling RssAnon from
 * outside misses a peak that lasts less than the sampling period (a 0.4 MB
 * CRL's build buffer is copied into the store and released within a
 * millisecond). Anonymous memory of a single-threaded process grows only by
 * page faults and shrinks only in a few system calls (munmap, madvise, brk,
 * mremap, exit); so its maximum is reached just before one of them. The
 * command runs under ptrace with a seccomp filter that stops it at the entry
 * of exactly those calls, and at each stop the "Anonymous:" line of
 * /proc/PID/smaps_rollup (a page-table walk, exact; RssAnon in status is a
 * per-CPU-cached counter) is read. Used by bench/crl_scale.sh; the command's
 * wall time is inflated by the stops, so time it in a run of its own.
 *
 *   peakanon OUT CMD [ARG...]   runs CMD (its output untouched) and writes
 *                               "peak_anon_kb exit_status" to the file OUT
 *
 * x86-64 Linux only (the filter names x86-64 system call numbers); a command
 * that starts threads is not handled (crlgen and openssl ca have none).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Anonymous kB of pid from smaps_rollup, or -1. */
static long peak_read(int fd)
{
    char buf[4096];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *p = strstr(buf, "\nAnonymous:");
    return p ? strtol(p + 11, NULL, 10) : -1;
}

static int peak_child(char **argv)
{
    /* Trap the calls that can shrink anonymous memory; allow everything else. */
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_munmap, 5, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, 4, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_brk, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mremap, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
    };
    struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0 || raise(SIGSTOP) != 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
        perror("peakanon: child setup");
        _exit(126);
    }
    execvp(argv[0], argv);
    perror(argv[0]);
    _exit(127);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: peakanon OUT CMD [ARG...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0)
        return perror("fork"), 2;
    if (pid == 0)
        return peak_child(argv + 2);

    int st, fd = -1, exec_seen = 0;
    long peak = 0;
    char path[64];
    if (waitpid(pid, &st, 0) < 0 || !WIFSTOPPED(st))
        return fprintf(stderr, "peakanon: child did not stop\n"), 2;
    if (ptrace(PTRACE_SETOPTIONS, pid, NULL,
               (void *)(long)(PTRACE_O_TRACESECCOMP | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL)) < 0)
        return perror("PTRACE_SETOPTIONS"), 2;
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
    int sig = 0;
    for (;;) {
        if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig) < 0)
            return perror("PTRACE_CONT"), 2;
        sig = 0;
        if (waitpid(pid, &st, 0) < 0)
            return perror("waitpid"), 2;
        if (WIFEXITED(st) || WIFSIGNALED(st))
            break;
        if (!WIFSTOPPED(st))
            continue;
        int ev = st >> 16;
        if (ev == PTRACE_EVENT_EXEC) {
            exec_seen = 1; /* only the command's own image counts */
            if (fd < 0)
                fd = open(path, O_RDONLY | O_CLOEXEC);
        } else if (ev == PTRACE_EVENT_SECCOMP) {
            long a = exec_seen && fd >= 0 ? peak_read(fd) : -1;
            if (a > peak)
                peak = a;
        } else if (ev == 0) {
            sig = WSTOPSIG(st); /* a real signal: deliver it */
        }
    }
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    FILE *out = fopen(argv[1], "w");
    if (out == NULL || fprintf(out, "%ld %d\n", peak, code) < 0 || fclose(out) != 0)
        return perror(argv[1]), 2;
    return 0;
}
