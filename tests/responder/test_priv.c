/*
 * Tests for responder/priv: a real drop from root to `nobody` in a forked child,
 * then what the kernel says about that child (ids, groups, capabilities from
 * /proc/self/status, NO_NEW_PRIVS) and that root cannot be taken back. Needs
 * root, as CI has; skipped otherwise, saying so.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "priv.h"

#define NEED_ROOT()                                                                                \
    do {                                                                                           \
        if (geteuid() != 0)                                                                        \
            cr_skip_test("priv_drop needs root to drop from (running as uid %u)",                  \
                         (unsigned)geteuid());                                                     \
    } while (0)

/* What a child found; one distinct exit code per failed check, 0 if all held. */
enum {
    OK = 0,
    E_SETUP = 9,
    E_DROP,
    E_UID,
    E_GID,
    E_GROUPS,
    E_REGAIN_UID,
    E_REGAIN_GID,
    E_CAPS,
    E_NNP,
    E_AGAIN,
    E_OTHER_USER,
    E_ROOT_USER,
};

static const char *what(int code)
{
    switch (code) {
    case E_SETUP:
        return "could not give the child supplementary groups to drop";
    case E_DROP:
        return "priv_drop(\"nobody\") failed";
    case E_UID:
        return "real/effective/saved uid not nobody's";
    case E_GID:
        return "real/effective/saved gid not nobody's";
    case E_GROUPS:
        return "supplementary groups left";
    case E_REGAIN_UID:
        return "setuid(0)/seteuid(0) succeeded after the drop";
    case E_REGAIN_GID:
        return "setgid(0)/setgroups succeeded after the drop";
    case E_CAPS:
        return "a capability set is not empty in /proc/self/status";
    case E_NNP:
        return "NO_NEW_PRIVS not set";
    case E_AGAIN:
        return "priv_drop(\"nobody\") as nobody did not return 0";
    case E_OTHER_USER:
        return "priv_drop(\"daemon\") as nobody did not return -EPERM";
    case E_ROOT_USER:
        return "priv_drop(\"root\") did not return -EINVAL";
    default:
        return "unexpected exit";
    }
}

/* Runs fn in a forked child and returns its exit code (or 100 + signal). */
static int in_child(int (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0)
        _exit(fn());
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

/* True if every capability set line of /proc/self/status (CapInh/Prm/Eff/Amb) is 0. */
static bool caps_all_zero(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int seen = 0;
    bool zero = true;
    if (!f)
        return false;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long v;
        char name[16];
        if (sscanf(line, "Cap%15[A-Za-z]:\t%llx", name, &v) == 2 && strcmp(name, "Bnd") != 0) {
            seen++;
            if (v != 0)
                zero = false;
        }
    }
    fclose(f);
    return zero && seen >= 4;
}

static int child_drop_to_nobody(void)
{
    struct passwd *pw = getpwnam("nobody");
    /* Start with supplementary groups (root's and daemon's), as a login root has. */
    gid_t extra[2] = {0, 1};
    if (!pw || setgroups(2, extra) != 0 || getgroups(0, NULL) != 2)
        return E_SETUP;
    if (priv_drop("nobody") != 0)
        return E_DROP;
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) != 0 || ru != pw->pw_uid || eu != pw->pw_uid || su != pw->pw_uid)
        return E_UID;
    if (getresgid(&rg, &eg, &sg) != 0 || rg != pw->pw_gid || eg != pw->pw_gid || sg != pw->pw_gid)
        return E_GID;
    if (getgroups(0, NULL) != 0)
        return E_GROUPS;
    if (setuid(0) == 0 || errno != EPERM || seteuid(0) == 0)
        return E_REGAIN_UID;
    gid_t zero = 0;
    if (setgid(0) == 0 || setgroups(1, &zero) == 0)
        return E_REGAIN_GID;
    if (!caps_all_zero())
        return E_CAPS;
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return E_NNP;
    return OK;
}

Test(priv, drops_root_to_nobody_for_good)
{
    NEED_ROOT();
    int rc = in_child(child_drop_to_nobody);
    cr_assert_eq(rc, OK, "%s (child exit %d)", what(rc), rc);
    /* The test process itself is untouched (the drop happened in the child). */
    cr_assert_eq(geteuid(), 0);
}

static int child_already_nobody(void)
{
    if (priv_drop("nobody") != 0)
        return E_DROP;
    /* Not root any more: the same user again is fine, another user is refused. */
    if (priv_drop("nobody") != 0)
        return E_AGAIN;
    if (priv_drop("daemon") != -EPERM)
        return E_OTHER_USER;
    if (priv_drop("root") != -EINVAL)
        return E_ROOT_USER;
    return OK;
}

Test(priv, non_root_only_stays_itself)
{
    NEED_ROOT();
    int rc = in_child(child_already_nobody);
    cr_assert_eq(rc, OK, "%s (child exit %d)", what(rc), rc);
}

Test(priv, refusals_change_nothing)
{
    NEED_ROOT();
    cr_assert_eq(priv_drop(NULL), 0, "NULL (not configured) is a no-op");
    cr_assert_eq(priv_drop(""), -EINVAL);
    cr_assert_eq(priv_drop("revokd-no-such-user-7"), -ENOENT);
    cr_assert_eq(priv_drop("root"), -EINVAL, "dropping to uid 0 would drop nothing");
    /* None of those may have changed the process: still root, groups intact. */
    cr_assert_eq(getuid(), 0);
    cr_assert_eq(geteuid(), 0);
    cr_assert_eq(getegid(), 0);
    cr_assert_eq(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 0);
}
