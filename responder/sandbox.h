/*
 * sandbox — the responder's seccomp filter. Once main() has bound the ports,
 * created the rings or loops, dropped privileges and opened the store, the
 * process needs only a few dozen system calls to serve; sandbox_install()
 * confines every thread to those, so code execution gained through a bug can
 * neither start a program, nor open a network socket, nor trace another
 * process. [responder] seccomp = off leaves it out (docs/operations-guide.md,
 * "Sandbox").
 */
#ifndef REVOKD_SANDBOX_H
#define REVOKD_SANDBOX_H

/*
 * Installs the filter for the named backend ("io_uring" or "libev") on every
 * thread of the process (SECCOMP_FILTER_FLAG_TSYNC; threads created later
 * inherit it) for the rest of its life. Sets PR_SET_NO_NEW_PRIVS. A call not
 * on the backend's list fails with EPERM and does nothing; a few allowed calls
 * are limited by argument: socket() only for AF_UNIX (the live signer and its
 * /healthz probe), openat() never for writing only, truncating or appending,
 * mmap()/mprotect() never executable, kill()/tgkill() only of this process.
 *
 * Returns 0 and the number of system calls allowed in *n_allowed; -EINVAL for
 * an unknown backend; or a negative errno from libseccomp (then no filter is
 * installed: the caller must not serve, since it promised a sandbox).
 */
int sandbox_install(const char *backend, unsigned *n_allowed);

#endif
