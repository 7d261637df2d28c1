/*
 * priv — dropping root after bind. The order matters: supplementary groups and
 * the gid go first (setgroups/setresgid need root), the uid last; setresuid
 * from root to a non-zero uid clears the permitted, effective and ambient
 * capability sets, and the final check reads them back with capget rather than
 * trusting that rule. Start-up code: it may allocate; it logs nothing (the
 * caller logs, with the user name it passed).
 */
#include "priv.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* getpwnam_r buffer: start here, double on ERANGE up to the cap. */
#define PRIV_PWBUF_START 4096
#define PRIV_PWBUF_MAX   (1u << 20)

/* Looks `user` up; fills *uid, *gid. */
static int priv_lookup(const char *user, uid_t *uid, gid_t *gid)
{
    struct passwd pw, *res = NULL;
    size_t cap = PRIV_PWBUF_START;
    char *buf = NULL;
    int rc;
    for (;;) {
        char *nb = realloc(buf, cap);
        if (!nb) {
            rc = -ENOMEM;
            goto fail;
        }
        buf = nb;
        rc = getpwnam_r(user, &pw, buf, cap, &res);
        if (rc != ERANGE || cap >= PRIV_PWBUF_MAX)
            break;
        cap *= 2;
    }
    if (rc != 0) {
        rc = -rc;
        goto fail;
    }
    if (!res) {
        rc = -ENOENT;
        goto fail;
    }
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    rc = 0;
fail:
    free(buf);
    return rc;
}

/* True if every uid and gid is the target's and there is no supplementary group. */
static bool priv_is(uid_t uid, gid_t gid)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0)
        return false;
    return ru == uid && eu == uid && su == uid && rg == gid && eg == gid && sg == gid &&
           getgroups(0, NULL) == 0;
}

/* True if the calling thread has no permitted, effective or inheritable capability. */
static bool priv_no_caps(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0xff, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) != 0)
        return false;
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
        if (data[i].permitted || data[i].effective || data[i].inheritable)
            return false;
    return true;
}

/* Empties the calling thread's capability sets (lowering is always allowed; ambient follows). */
static int priv_clear_caps(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof(data));
    return syscall(SYS_capset, &hdr, data) == 0 ? 0 : -errno;
}

/* After the drop: neither root's uid nor gid can come back, and nothing is left over. */
static int priv_verify(uid_t uid, gid_t gid)
{
    if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || setegid(0) == 0)
        return -EPERM;
    if (!priv_is(uid, gid) || !priv_no_caps())
        return -EPERM;
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return -EPERM;
    return 0;
}

int priv_drop(const char *user)
{
    uid_t uid = 0;
    gid_t gid = 0;
    int rc;
    if (!user)
        return 0;
    if (!*user)
        return -EINVAL;
    if ((rc = priv_lookup(user, &uid, &gid)) < 0)
        return rc;
    if (uid == 0 || gid == 0)
        return -EINVAL;
    if (geteuid() != 0) {
        /* Already running as the user (started by systemd User=, say): nothing to drop. */
        if (!priv_is(uid, gid))
            return -EPERM;
    } else {
        if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
            setresuid(uid, uid, uid) != 0)
            return -errno;
    }
    /* A non-root start may still hold capabilities (systemd AmbientCapabilities=). */
    if ((rc = priv_clear_caps()) < 0)
        return rc;
    /* No exec can ever give privileges back (setuid binaries, file capabilities). */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -errno;
    return priv_verify(uid, gid);
}
