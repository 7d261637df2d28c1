/*
 * priv — the responder gives up root once its listening sockets are bound:
 * priv_drop() switches to a configured user for good and proves it cannot get
 * root back. It never holds a key either (tests/responder/check_no_signing.sh),
 * so a compromised responder can read the store and answer, nothing more.
 */
#ifndef REVOKD_PRIV_H
#define REVOKD_PRIV_H

/*
 * Becomes `user` ([responder] user) for the rest of the process's life. NULL
 * means "stay as started": returns 0 and changes nothing.
 *
 * As root: real, effective and saved gid and uid become the user's (from the
 * passwd database, getpwnam_r), with NO supplementary groups at all
 * (setgroups(0, NULL), not initgroups(): the responder needs nothing beyond its
 * already open sockets, store and log, and the groups an administrator gives a
 * login should not leak into a network daemon; grant the store to the user's
 * primary group if a reopen after SIGHUP must work). Then PR_SET_NO_NEW_PRIVS,
 * and a check that the drop holds: setuid(0) and setgid(0) must fail, every id
 * must be the user's, no supplementary group and no capability may remain.
 * Not as root: succeeds only if the process already is that user (ids and
 * groups as above); its capabilities are emptied and NO_NEW_PRIVS set all the
 * same; anything else is -EPERM.
 *
 * Returns 0; -ENOENT if the user does not exist; -EINVAL for an empty name or
 * a user whose uid or gid is 0 (that would drop nothing); -EPERM if not root
 * and not already the user, or if the check after the drop fails (then the
 * process may be half-dropped: the caller must exit); or a negative errno from
 * the lookup or a set*id call. Call it from the main thread BEFORE starting
 * worker threads: glibc applies set*id to every thread, but NO_NEW_PRIVS and
 * the capability check are per thread and only inherited by threads created
 * afterwards.
 */
int priv_drop(const char *user);

#endif
