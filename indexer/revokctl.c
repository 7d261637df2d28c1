/*
 * revokctl — the library half of the operator command: argument parsing (times,
 * reasons, serials), the rules deciding what revoke/hold/release does to a stored
 * state, the audit log line, and the store transaction that applies a change and
 * re-signs both responses. Kept apart from revokctl_main.c so the unit tests run
 * exactly this code. See revokctl.h for the audit order and the precedence rules.
 */
#include "revokctl.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cadb.h"
#include "log.h"

/* ---- times ---- */

/* Reads exactly n decimal digits. */
static bool rc_digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool rc_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t rc_days(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool rc_civil(int y, int mo, int d, int h, int mi, int s, int64_t *out)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59)
        return false;
    if (d > mdays[mo - 1] + (mo == 2 && rc_leap(y)))
        return false;
    *out = rc_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    return true;
}

/* Skips ".digits" (at least one digit) if present. */
static const char *rc_skip_frac(const char *p)
{
    if (*p != '.')
        return p;
    const char *q = p + 1;
    while (*q >= '0' && *q <= '9')
        q++;
    return q == p + 1 ? NULL : q;
}

int revokctl_parse_time(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec;
    const char *p;
    int64_t t;
    if (!s)
        return -EINVAL;
    size_t n = strlen(s);
    if (n >= 15 && rc_digits(s, 4, &y) && rc_digits(s + 4, 2, &mo) && rc_digits(s + 6, 2, &d) &&
        rc_digits(s + 8, 2, &h) && rc_digits(s + 10, 2, &mi) && rc_digits(s + 12, 2, &sec)) {
        /* GeneralizedTime, UTC only (X.690 11.7 for DER; anything else is ambiguous). */
        p = rc_skip_frac(s + 14);
        if (!p || strcmp(p, "Z") != 0 || !rc_civil(y, mo, d, h, mi, sec, &t))
            return -EINVAL;
        *out = t;
        return 0;
    }
    /* RFC 3339 5.6: date-time = full-date "T" full-time; 'T', 't' or ' ' (its note). */
    if (n < 20 || !rc_digits(s, 4, &y) || s[4] != '-' || !rc_digits(s + 5, 2, &mo) || s[7] != '-' ||
        !rc_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !rc_digits(s + 11, 2, &h) || s[13] != ':' || !rc_digits(s + 14, 2, &mi) || s[16] != ':' ||
        !rc_digits(s + 17, 2, &sec))
        return -EINVAL;
    if (!(p = rc_skip_frac(s + 19)) || !rc_civil(y, mo, d, h, mi, sec, &t))
        return -EINVAL;
    if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') {
        *out = t;
        return 0;
    }
    int oh, om;
    if ((p[0] != '+' && p[0] != '-') || !rc_digits(p + 1, 2, &oh) || p[3] != ':' ||
        !rc_digits(p + 4, 2, &om) || p[6] != '\0' || oh > 23 || om > 59)
        return -EINVAL;
    int64_t off = (int64_t)oh * 3600 + om * 60;
    t = p[0] == '+' ? t - off : t + off;
    if (t < 0)
        return -EINVAL;
    *out = t;
    return 0;
}

const char *revokctl_fmt_time(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, cap, "@%lld", (long long)t);
    return buf;
}

/* ---- names ---- */

static const char *const rc_reasons[] = {
    "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
    "superseded",    "cessationOfOperation", "certificateHold", NULL, /* 7 is not used */
    "removeFromCRL", "privilegeWithdrawn",   "aACompromise",
};
#define RC_NREASONS (sizeof(rc_reasons) / sizeof(rc_reasons[0]))

int revokctl_parse_reason(const char *s, uint8_t *out)
{
    for (size_t i = 0; s && i < RC_NREASONS; i++) {
        if (rc_reasons[i] && strcasecmp(s, rc_reasons[i]) == 0) {
            *out = (uint8_t)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *revokctl_reason_name(uint8_t reason)
{
    if (reason == STORE_REASON_NONE)
        return "none";
    return reason < RC_NREASONS && rc_reasons[reason] ? rc_reasons[reason] : "?";
}

const char *revokctl_source_name(uint8_t source)
{
    switch (source) {
    case STORE_SRC_INDEX:
        return "index";
    case STORE_SRC_REVOKCTL:
        return "revokctl";
    case STORE_SRC_CRL:
        return "crl";
    case STORE_SRC_CERTDIR:
        return "certdir";
    case STORE_SRC_CERTMATE:
        return "certmate";
    }
    return "?";
}

const char *revokctl_status_name(uint8_t status)
{
    return status == STORE_GOOD ? "good" : status == STORE_HOLD ? "on hold" : "revoked";
}

/* The JSON spelling of a status (no space). */
static const char *rc_status_json(uint8_t status)
{
    return status == STORE_GOOD ? "good" : status == STORE_HOLD ? "hold" : "revoked";
}

int revokctl_parse_serial(const char *s, uint8_t out[DER_SERIAL_MAX], size_t *out_len)
{
    char hex[2 * DER_SERIAL_MAX + 2];
    size_t n = 0;
    unsigned flags;
    if (!s)
        return -EINVAL;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    for (; *s; s++) {
        if (*s == ':')
            continue;
        if (n + 1 >= sizeof(hex))
            return -EINVAL;
        hex[n++] = *s;
    }
    /* cadb's parser: the command line names a certificate as index.txt does. */
    if (n == 0 || cadb_parse_serial(hex, n, out, out_len, &flags) < 0)
        return -EINVAL;
    return 0;
}

/* ---- the rules ---- */

int revokctl_check_req(const struct revokctl_req *rq, int64_t now, char *why, size_t cap)
{
    char b1[32], b2[32];
    if (rq->time > now) {
        snprintf(why, cap,
                 "--time %s is in the future (now %s): a revocation is recorded when it happens, "
                 "not ahead of time",
                 revokctl_fmt_time(rq->time, b1, sizeof(b1)),
                 revokctl_fmt_time(now, b2, sizeof(b2)));
        return -EINVAL;
    }
    if (rq->invalidity > now) {
        snprintf(why, cap, "--invalidity-date %s is in the future (now %s)",
                 revokctl_fmt_time(rq->invalidity, b1, sizeof(b1)),
                 revokctl_fmt_time(now, b2, sizeof(b2)));
        return -EINVAL;
    }
    if (rq->invalidity && rq->invalidity > (rq->time ? rq->time : now)) {
        snprintf(why, cap,
                 "--invalidity-date %s is after the revocation time %s: the invalidity date is "
                 "when the key is known or suspected to have been compromised, before the "
                 "revocation (RFC 5280 5.3.2)",
                 revokctl_fmt_time(rq->invalidity, b1, sizeof(b1)),
                 revokctl_fmt_time(rq->time ? rq->time : now, b2, sizeof(b2)));
        return -EINVAL;
    }
    return 0;
}

/* "revoked at 2026-...Z (reason keyCompromise, set by index)" */
static void rc_describe(const struct store_cert *c, char *buf, size_t cap)
{
    char t[32];
    if (c->status == STORE_GOOD)
        snprintf(buf, cap, "good (set by %s)", revokctl_source_name(c->source));
    else if (c->status == STORE_HOLD)
        snprintf(buf, cap, "on hold since %s (set by %s)",
                 revokctl_fmt_time(c->revoked_at, t, sizeof(t)), revokctl_source_name(c->source));
    else
        snprintf(buf, cap, "revoked at %s (reason %s, set by %s)",
                 revokctl_fmt_time(c->revoked_at, t, sizeof(t)), revokctl_reason_name(c->reason),
                 revokctl_source_name(c->source));
}

enum revokctl_verdict revokctl_decide(const struct revokctl_req *rq,
                                      const struct store_cert *before, int64_t now,
                                      struct store_cert *after, char *why, size_t cap)
{
    char was[160];
    int64_t when = rq->time ? rq->time : now;
    memset(after, 0, sizeof(*after));
    if (before) {
        *after = *before;
        rc_describe(before, was, sizeof(was));
    }
    after->source = STORE_SRC_REVOKCTL;
    after->seq = 0;

    switch (rq->cmd) {
    case REVOKCTL_REVOKE:
        if (before && before->status == STORE_REVOKED) {
            if (before->reason == rq->reason && (!rq->time || rq->time == before->revoked_at) &&
                (!rq->invalidity || rq->invalidity == before->invalidity)) {
                snprintf(why, cap, "already %s: nothing changed", was);
                return REVOKCTL_UNCHANGED;
            }
            if (rq->time && rq->time != before->revoked_at) {
                snprintf(why, cap,
                         "already %s: a revocation time is never changed (clients and CRLs have "
                         "seen it)",
                         was);
                return REVOKCTL_REFUSED;
            }
            if (rq->reason != before->reason && rq->reason != REVOKCTL_REASON_KEY_COMPROMISE) {
                snprintf(why, cap,
                         "already %s: a revocation's reason is only ever changed to "
                         "keyCompromise (CA/Browser Forum BR 7.2.2)",
                         was);
                return REVOKCTL_REFUSED;
            }
            /* To keyCompromise, or the same reason with an invalidity date added: the
             * revocation time stays. */
            after->reason = rq->reason;
            if (rq->invalidity)
                after->invalidity = rq->invalidity;
            snprintf(why, cap, "was %s: reason now %s%s", was, revokctl_reason_name(rq->reason),
                     rq->invalidity ? ", invalidity date set" : "");
            return REVOKCTL_CHANGE;
        }
        after->status = STORE_REVOKED;
        after->reason = rq->reason;
        after->revoked_at = when;
        after->invalidity = rq->invalidity;
        if (!before)
            snprintf(why, cap,
                     "the store does not know this serial (issued but not yet seen by a "
                     "source?): revoked anyway");
        else
            snprintf(why, cap, "was %s", was);
        return REVOKCTL_CHANGE;

    case REVOKCTL_HOLD:
        if (before && before->status == STORE_HOLD) {
            snprintf(why, cap, "already %s: nothing changed", was);
            return REVOKCTL_UNCHANGED;
        }
        if (before && before->status == STORE_REVOKED) {
            snprintf(why, cap,
                     "%s: a revocation cannot become a hold (RFC 5280 3.3: it is never undone)",
                     was);
            return REVOKCTL_REFUSED;
        }
        after->status = STORE_HOLD;
        after->reason = REVOKCTL_REASON_HOLD;
        after->revoked_at = when;
        after->invalidity = 0;
        if (!before)
            snprintf(why, cap,
                     "the store does not know this serial (issued but not yet seen by a "
                     "source?): put on hold anyway");
        else
            snprintf(why, cap, "was %s", was);
        return REVOKCTL_CHANGE;

    case REVOKCTL_RELEASE:
        if (!before) {
            snprintf(why, cap, "the store does not know this serial: nothing to release");
            return REVOKCTL_REFUSED;
        }
        if (before->status == STORE_GOOD) {
            snprintf(why, cap, "not on hold, %s: nothing to release", was);
            return REVOKCTL_UNCHANGED;
        }
        if (before->status == STORE_REVOKED) {
            snprintf(why, cap,
                     "%s: a revocation is never undone (only certificateHold is released, RFC "
                     "5280 3.3; to correct a mistaken revocation see revokd-indexer --unrevoke, "
                     "docs/operations.md)",
                     was);
            return REVOKCTL_REFUSED;
        }
        if (before->source != STORE_SRC_REVOKCTL) {
            snprintf(why, cap,
                     "%s: a hold is released only by the source that set it; release it in "
                     "the %s source (for index.txt: reason removeFromCRL, docs/operations.md)",
                     was, revokctl_source_name(before->source));
            return REVOKCTL_REFUSED;
        }
        after->status = STORE_GOOD;
        after->reason = STORE_REASON_NONE;
        after->revoked_at = 0;
        after->invalidity = 0;
        snprintf(why, cap, "was %s", was);
        return REVOKCTL_CHANGE;

    case REVOKCTL_STATUS:
    case REVOKCTL_LIST:
        break;
    }
    snprintf(why, cap, "not a command that changes a certificate");
    return REVOKCTL_REFUSED;
}

/* ---- who ---- */

void revokctl_who_init(struct revokctl_who *who)
{
    memset(who, 0, sizeof(*who));
    who->uid = (unsigned)getuid();
    struct passwd *pw = getpwuid((uid_t)who->uid);
    if (pw)
        snprintf(who->user, sizeof(who->user), "%s", pw->pw_name);
    const char *su = getenv("SUDO_USER");
    if (su && revokctl_text_ok(su))
        snprintf(who->sudo_user, sizeof(who->sudo_user), "%s", su);
    if (gethostname(who->host, sizeof(who->host) - 1) < 0)
        who->host[0] = '\0';
    who->host[sizeof(who->host) - 1] = '\0';
}

/* ---- the audit line ---- */

bool revokctl_text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    if (n > REVOKCTL_TEXT_MAX)
        return false;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t len;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            len = 2, min = 0x80, c &= 0x1f;
        else if ((c & 0xf0) == 0xe0)
            len = 3, min = 0x800, c &= 0x0f;
        else if ((c & 0xf8) == 0xf0)
            len = 4, min = 0x10000, c &= 0x07;
        else
            return false;
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            c = c << 6 | (p[i + k] & 0x3f);
        }
        /* Overlong forms, surrogates and code points past Unicode are not UTF-8. */
        if (c < min || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
            return false;
        i += len;
    }
    return true;
}

/* A bounded JSON writer: overflow is sticky and reported once at the end. */
struct rc_json {
    char *buf;
    size_t cap, len;
    bool over;
};

static void jw_raw(struct rc_json *w, const char *s, size_t n)
{
    if (w->over || n > w->cap - w->len) {
        w->over = true;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void jw_s(struct rc_json *w, const char *s)
{
    jw_raw(w, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void jw_f(struct rc_json *w, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        w->over = true;
    else
        jw_raw(w, tmp, (size_t)n);
}

/* A JSON string (RFC 8259 7): quote, backslash and control characters escaped. */
static void jw_str(struct rc_json *w, const char *s)
{
    if (!s) {
        jw_s(w, "null");
        return;
    }
    jw_raw(w, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            jw_raw(w, e, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            jw_f(w, "\\u%04x", *p);
        } else {
            jw_raw(w, (const char *)p, 1);
        }
    }
    jw_raw(w, "\"", 1);
}

static void jw_time(struct rc_json *w, int64_t t)
{
    char b[32];
    if (t == 0)
        jw_s(w, "null");
    else
        jw_str(w, revokctl_fmt_time(t, b, sizeof(b)));
}

/* {"status":..,"reason":..,"revocation_time":..,"invalidity_date":..,"source":..,"sources":[..],...}
 */
static void jw_cert(struct rc_json *w, const struct store_cert *c)
{
    if (!c) {
        jw_s(w, "null");
        return;
    }
    jw_s(w, "{\"status\":");
    jw_str(w, rc_status_json(c->status));
    jw_s(w, ",\"reason\":");
    if (c->status == STORE_GOOD || c->reason == STORE_REASON_NONE)
        jw_s(w, "null");
    else
        jw_str(w, revokctl_reason_name(c->reason));
    jw_s(w, ",\"revocation_time\":");
    jw_time(w, c->status == STORE_GOOD ? 0 : c->revoked_at);
    jw_s(w, ",\"invalidity_date\":");
    jw_time(w, c->invalidity);
    jw_s(w, ",\"not_after\":");
    jw_time(w, c->not_after);
    jw_s(w, ",\"source\":");
    jw_str(w, revokctl_source_name(c->source));
    jw_s(w, ",\"sources\":[");
    bool first = true;
    for (unsigned src = 0; src < 8; src++) {
        if (!(c->listed & STORE_SRC_BIT(src)))
            continue;
        if (!first)
            jw_s(w, ",");
        jw_str(w, revokctl_source_name((uint8_t)src));
        first = false;
    }
    jw_f(w, "],\"seq\":%llu}", (unsigned long long)c->seq);
}

int revokctl_audit_line(char *buf, size_t cap, const struct revokctl_audit *a)
{
    struct rc_json w = {.buf = buf, .cap = cap ? cap - 1 : 0};
    char when[40], b[32];
    time_t tt = (time_t)(a->when_ms / 1000);
    struct tm tm;
    if (cap == 0)
        return -ENOSPC;
    if (gmtime_r(&tt, &tm) && strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm))
        snprintf(when, sizeof(when), "%s.%03dZ", b, (int)(a->when_ms % 1000));
    else
        snprintf(when, sizeof(when), "@%lld", (long long)a->when_ms);
    jw_s(&w, "{\"when\":");
    jw_str(&w, when);
    jw_s(&w, ",\"op\":");
    jw_str(&w, a->op);
    jw_s(&w, ",\"phase\":");
    jw_str(&w, a->phase);
    jw_s(&w, ",\"who\":{");
    jw_f(&w, "\"uid\":%u,\"user\":", a->who->uid);
    jw_str(&w, a->who->user[0] ? a->who->user : NULL);
    jw_s(&w, ",\"sudo_user\":");
    jw_str(&w, a->who->sudo_user[0] ? a->who->sudo_user : NULL);
    jw_s(&w, ",\"host\":");
    jw_str(&w, a->who->host[0] ? a->who->host : NULL);
    jw_s(&w, ",\"by\":");
    jw_str(&w, a->who->by);
    jw_s(&w, ",\"comment\":");
    jw_str(&w, a->who->comment);
    jw_s(&w, "},\"what\":{\"command\":");
    jw_str(&w, a->command);
    jw_s(&w, ",\"issuer\":");
    jw_str(&w, a->issuer);
    jw_s(&w, ",\"serial\":");
    jw_str(&w, a->serial);
    if (a->req->cmd == REVOKCTL_REVOKE) {
        jw_s(&w, ",\"reason\":");
        jw_str(&w, revokctl_reason_name(a->req->reason));
    }
    if (a->req->cmd == REVOKCTL_REVOKE || a->req->cmd == REVOKCTL_HOLD) {
        jw_s(&w, ",\"time\":");
        jw_time(&w, a->req->time);
    }
    if (a->req->cmd == REVOKCTL_REVOKE) {
        jw_s(&w, ",\"invalidity_date\":");
        jw_time(&w, a->req->invalidity);
    }
    jw_s(&w, "},\"before\":");
    jw_cert(&w, a->before);
    jw_s(&w, ",\"after\":");
    jw_cert(&w, a->after);
    jw_s(&w, ",\"seq\":");
    if (a->seq)
        jw_f(&w, "%llu", (unsigned long long)a->seq);
    else
        jw_s(&w, "null");
    jw_s(&w, ",\"message\":");
    jw_str(&w, a->message);
    jw_s(&w, "}\n");
    if (w.over)
        return -ENOSPC;
    buf[w.len] = '\0';
    return (int)w.len;
}

int revokctl_audit_path(const struct config *cfg, char *out, size_t cap)
{
    int n;
    if (cfg->indexer.audit_log) {
        n = snprintf(out, cap, "%s", cfg->indexer.audit_log);
    } else {
        char tmp[4096];
        if (snprintf(tmp, sizeof(tmp), "%s", cfg->store.path) >= (int)sizeof(tmp))
            return -ENAMETOOLONG;
        const char *dir = dirname(tmp);
        n = snprintf(out, cap, "%s%saudit.log", dir, strcmp(dir, "/") == 0 ? "" : "/");
    }
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* ---- the audit log file ---- */

/*
 * Opens (creating, mode 0640) and locks the audit log. The lock serialises whole
 * operations of concurrent revokctl runs, so an intent line and its outcome are
 * never interleaved with another's. A new file's directory entry is fsync'd too,
 * or a crash could lose the file with the lines fsync'd into it.
 */
static int rc_audit_open(const char *path, int *fd_out)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    bool created = fd >= 0;
    if (fd < 0 && errno == EEXIST)
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    if (created) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s", path);
        int dfd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int rc = dfd >= 0 && fsync(dfd) == 0 ? 0 : -errno;
        if (dfd >= 0)
            close(dfd);
        if (rc < 0) {
            close(fd);
            return rc;
        }
    }
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            int rc = -errno;
            close(fd);
            return rc;
        }
    }
    *fd_out = fd;
    return 0;
}

/* One line in one write (O_APPEND), then fsync: it is on disk before we go on. */
static int rc_audit_write(int fd, const struct revokctl_audit *a)
{
    char line[REVOKCTL_LINE_MAX];
    int n = revokctl_audit_line(line, sizeof(line), a);
    if (n < 0)
        return n;
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = write(fd, line + off, (size_t)n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        off += (size_t)w;
    }
    return fsync(fd) < 0 ? -errno : 0;
}

static int64_t rc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *const rc_cmd_names[] = {
    [REVOKCTL_REVOKE] = "revoke", [REVOKCTL_HOLD] = "hold", [REVOKCTL_RELEASE] = "release",
    [REVOKCTL_STATUS] = "status", [REVOKCTL_LIST] = "list",
};

int revokctl_change(struct sync_issuer *si, struct store *store, const struct sync_params *p,
                    const char *audit_path, const struct revokctl_who *who,
                    const struct revokctl_req *rq, const uint8_t *serial, size_t serial_len,
                    FILE *out, FILE *err)
{
    const char *name = si->conf->name, *cmd = rc_cmd_names[rq->cmd];
    char hex[2 * DER_SERIAL_MAX + 1], why[768], op[17];
    struct store_txn t = {0};
    struct store_cert before, after;
    uint8_t *resp = NULL;
    int fd = -1, rc, ret = REVOKCTL_EXIT_REFUSED;
    bool known = false;
    uint64_t rnd;
    sigset_t block, saved;

    sync_serial_hex(serial, serial_len, hex, sizeof(hex));
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        rnd = (uint64_t)rc_now_ms() ^ ((uint64_t)getpid() << 40);
    snprintf(op, sizeof(op), "%016llx", (unsigned long long)rnd);

    /* Ctrl-C or a SIGTERM between the intent line and the commit would leave an intent
     * without its outcome: they wait until the outcome is on disk. */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGQUIT);
    sigprocmask(SIG_BLOCK, &block, &saved);
    if ((rc = rc_audit_open(audit_path, &fd)) < 0) {
        fprintf(err,
                "revokctl: audit log %s: %s: nothing changed (no change is made that the audit "
                "log does not record; [indexer] audit_log names it)\n",
                audit_path, strerror(-rc));
        sigprocmask(SIG_SETMASK, &saved, NULL);
        return REVOKCTL_EXIT_REFUSED;
    }
    if (!(resp = malloc(SYNC_RESP_MAX))) {
        rc = -ENOMEM;
        goto fail;
    }
    /* Waits for the indexer's batch in progress, if any: LMDB has one writer at a time. */
    if ((rc = store_txn_begin(store, &t, false)) < 0)
        goto fail;
    int64_t now = (int64_t)time(NULL);
    rc = store_get_cert(&t, si->id, serial, serial_len, &before);
    if (rc < 0 && rc != -ENOENT)
        goto fail;
    known = rc == 0;
    struct revokctl_audit a = {.op = op,
                               .who = who,
                               .command = cmd,
                               .issuer = name,
                               .serial = hex,
                               .req = rq,
                               .before = known ? &before : NULL,
                               .message = why};
    enum revokctl_verdict v =
        revokctl_decide(rq, known ? &before : NULL, now, &after, why, sizeof(why));
    if (v != REVOKCTL_CHANGE) {
        store_txn_abort(&t);
        a.when_ms = rc_now_ms();
        a.phase = v == REVOKCTL_UNCHANGED ? "unchanged" : "refused";
        if ((rc = rc_audit_write(fd, &a)) < 0)
            fprintf(err, "revokctl: warning: audit log %s: %s\n", audit_path, strerror(-rc));
        if (v == REVOKCTL_UNCHANGED) {
            fprintf(out, "[issuer %s] %s %s: %s\n", name, cmd, hex, why);
            ret = REVOKCTL_EXIT_OK;
        } else {
            fprintf(err, "revokctl: [issuer %s] %s %s refused: %s\n", name, cmd, hex, why);
        }
        goto out;
    }
    if (!known)
        fprintf(err,
                "revokctl: warning: [issuer %s] serial %s is not in the store (no source lists "
                "it yet): it is %s anyway and answered so from now on\n",
                name, hex, rq->cmd == REVOKCTL_HOLD ? "put on hold" : "revoked");
    rc = store_put_cert(&t, si->id, serial, serial_len, &after, now);
    if (rc == -EPERM) {
        /* The guard in the store disagrees with the rules above: keep what it holds. */
        snprintf(why, sizeof(why), "the store refuses to undo a revocation");
        goto fail_msg;
    }
    if (rc < 0)
        goto fail;
    if ((rc = sync_sign_cert(si, &t, serial, serial_len, &after, now, p, resp)) < 0) {
        snprintf(why, sizeof(why), "signing the OCSP responses failed: %s", strerror(-rc));
        goto fail_msg;
    }
    /* The intent is on disk before the change can be: never an unaudited change. */
    a.when_ms = rc_now_ms();
    a.phase = "intent";
    a.after = &after;
    a.seq = after.seq;
    if ((rc = rc_audit_write(fd, &a)) < 0) {
        snprintf(why, sizeof(why), "audit log %s: %s: not committed", audit_path, strerror(-rc));
        goto fail_msg;
    }
    rc = store_txn_commit(&t);
    a.when_ms = rc_now_ms();
    if (rc < 0) {
        snprintf(why, sizeof(why), "store commit failed: %s: nothing changed", strerror(-rc));
        a.phase = "failed";
        a.after = NULL;
        rc_audit_write(fd, &a);
        fprintf(err, "revokctl: [issuer %s] %s %s failed: %s\n", name, cmd, hex, why);
        goto out;
    }
    a.phase = "committed";
    int arc = rc_audit_write(fd, &a);
    ret = REVOKCTL_EXIT_OK;
    char desc[160];
    rc_describe(&after, desc, sizeof(desc));
    fprintf(out,
            "[issuer %s] %s %s: done: %s; now %s, change seq %llu; both OCSP responses re-signed "
            "(the responder answers it now), the next CRL follows\n",
            name, cmd, hex, why, desc, (unsigned long long)after.seq);
    if (arc < 0)
        fprintf(err,
                "revokctl: warning: audit log %s: the committed line could not be written (%s); "
                "the intent line (op %s, seq %llu) records the change\n",
                audit_path, strerror(-arc), op, (unsigned long long)after.seq);
    goto out;

fail:
    snprintf(why, sizeof(why), "%s", strerror(-rc));
fail_msg:
    store_txn_abort(&t);
    fprintf(err, "revokctl: [issuer %s] %s %s failed: %s: nothing changed\n", name, cmd, hex, why);
out:
    store_txn_abort(&t);
    free(resp);
    close(fd); /* releases the lock */
    sigprocmask(SIG_SETMASK, &saved, NULL);
    return ret;
}

/* ---- the indexer's refresh of revokctl-only entries ---- */

struct rc_refresh {
    struct sync_issuer *si;
    struct store_txn *t;
    const struct sync_params *p;
    int64_t now;
    uint8_t *buf;
    int n_signed;
};

/* True if a stored response is missing, due and extendable, or older than the revocation. */
static bool rc_due(struct rc_refresh *r, const uint8_t *serial, size_t serial_len,
                   const struct store_cert *c, int64_t *next)
{
    struct sync_issuer *si = r->si;
    int64_t max_next = r->now - (int64_t)r->p->backdate + (int64_t)r->p->validity;
    if (max_next > si->signer_not_after)
        max_next = si->signer_not_after;
    *next = INT64_MAX;
    for (int h = 0; h < 2; h++) {
        struct store_resp resp;
        enum store_hash hh = h == 0 ? STORE_HASH_SHA1 : STORE_HASH_SHA256;
        if (store_get_response(r->t, hh, h == 0 ? si->hashes.name_sha1 : si->hashes.name_sha256,
                               h == 0 ? si->hashes.key_sha1 : si->hashes.key_sha256, serial,
                               serial_len, &resp) < 0)
            return true;
        if (resp.hdr->signer != si->signer_id)
            return true; /* signed by a rotated-out signer: re-sign with the configured one */
        int64_t nu = resp.hdr->next_update;
        if (nu - r->now < (int64_t)r->p->refresh && nu < max_next)
            return true;
        if (c->revoked_at <= r->now && resp.hdr->this_update < c->revoked_at)
            return true;
        if (nu < *next)
            *next = nu;
    }
    return false;
}

static int rc_refresh_one(void *arg, const uint8_t *serial, size_t serial_len,
                          const struct store_cert *c)
{
    struct rc_refresh *r = arg;
    int64_t next;
    /* Only what no source sync walks: set by revokctl, listed by no other source. */
    if (c->source != STORE_SRC_REVOKCTL ||
        (c->listed & (uint8_t)~STORE_SRC_BIT(STORE_SRC_REVOKCTL)) != 0)
        return 0;
    if (!rc_due(r, serial, serial_len, c, &next)) {
        if (r->si->oldest_next_update == 0 || next < r->si->oldest_next_update)
            r->si->oldest_next_update = next;
        return 0;
    }
    int rc = sync_sign_cert(r->si, r->t, serial, serial_len, c, r->now, r->p, r->buf);
    if (rc < 0)
        return rc;
    r->n_signed += 2;
    return 0;
}

int revokctl_refresh(struct sync_issuer *si, struct store *store, const struct sync_params *p,
                     int64_t now)
{
    struct store_txn t = {0};
    struct rc_refresh r = {.si = si, .t = &t, .p = p, .now = now};
    int rc;
    if (now < si->signer_not_before || now > si->signer_not_after)
        return 0;
    if (!(r.buf = malloc(SYNC_RESP_MAX)))
        return -ENOMEM;
    if ((rc = store_txn_begin(store, &t, false)) < 0)
        goto out;
    if ((rc = store_cert_foreach(&t, si->id, true, rc_refresh_one, &r)) < 0)
        goto out;
    if (r.n_signed == 0) {
        rc = 0;
        goto out; /* nothing written: abort is the cheaper end */
    }
    if ((rc = store_txn_commit(&t)) < 0)
        goto out;
    rc = r.n_signed;
out:
    store_txn_abort(&t);
    free(r.buf);
    return rc;
}

/* ---- status and list ---- */

static void rc_print_cert_text(FILE *out, const struct store_cert *c)
{
    char b[32];
    fprintf(out, "  status           %s\n", revokctl_status_name(c->status));
    if (c->status != STORE_GOOD) {
        fprintf(out, "  reason           %s\n", revokctl_reason_name(c->reason));
        fprintf(out, "  revocation time  %s\n", revokctl_fmt_time(c->revoked_at, b, sizeof(b)));
    }
    if (c->invalidity)
        fprintf(out, "  invalidity date  %s\n", revokctl_fmt_time(c->invalidity, b, sizeof(b)));
    fprintf(out, "  not after        %s\n",
            c->not_after ? revokctl_fmt_time(c->not_after, b, sizeof(b)) : "unknown");
    fprintf(out, "  set by           %s\n", revokctl_source_name(c->source));
    fprintf(out, "  listed by        ");
    bool any = false;
    for (unsigned src = 0; src < 8; src++) {
        if (c->listed & STORE_SRC_BIT(src)) {
            fprintf(out, "%s%s", any ? ", " : "", revokctl_source_name((uint8_t)src));
            any = true;
        }
    }
    fprintf(out, "%s\n  change seq       %llu\n", any ? "" : "(none)", (unsigned long long)c->seq);
}

static int rc_open_issuer(struct store *store, struct store_txn *t, const char *issuer,
                          const struct store_issuer_rec **rec, FILE *err)
{
    const uint8_t *cert;
    int rc = store_txn_begin(store, t, true);
    if (rc == 0)
        rc = store_get_issuer_by_name(t, issuer, rec, &cert);
    if (rc == -ENOENT)
        fprintf(err,
                "revokctl: issuer %s is not in the store yet (revokd-indexer has not run with "
                "this [issuer] section)\n",
                issuer);
    else if (rc < 0)
        fprintf(err, "revokctl: store: %s\n", strerror(-rc));
    return rc;
}

int revokctl_status(struct store *store, const char *issuer, const uint8_t *serial,
                    size_t serial_len, bool json, FILE *out, FILE *err)
{
    struct store_txn t = {0};
    const struct store_issuer_rec *rec;
    struct store_cert c;
    char hex[2 * DER_SERIAL_MAX + 1], line[REVOKCTL_LINE_MAX];
    int ret = REVOKCTL_EXIT_REFUSED;
    sync_serial_hex(serial, serial_len, hex, sizeof(hex));
    if (rc_open_issuer(store, &t, issuer, &rec, err) < 0)
        goto out;
    int rc = store_get_cert(&t, rec->id, serial, serial_len, &c);
    if (rc < 0 && rc != -ENOENT) {
        fprintf(err, "revokctl: store: %s\n", strerror(-rc));
        goto out;
    }
    bool known = rc == 0;
    struct store_resp r[2];
    bool have[2];
    for (int h = 0; h < 2; h++) {
        enum store_hash hh = h == 0 ? STORE_HASH_SHA1 : STORE_HASH_SHA256;
        have[h] = store_get_response(&t, hh, h == 0 ? rec->name_sha1 : rec->name_sha256,
                                     h == 0 ? rec->key_sha1 : rec->key_sha256, serial, serial_len,
                                     &r[h]) == 0;
    }
    if (json) {
        struct rc_json w = {.buf = line, .cap = sizeof(line) - 1};
        jw_s(&w, "{\"issuer\":");
        jw_str(&w, issuer);
        jw_s(&w, ",\"serial\":");
        jw_str(&w, hex);
        jw_f(&w, ",\"known\":%s,\"cert\":", known ? "true" : "false");
        jw_cert(&w, known ? &c : NULL);
        jw_s(&w, ",\"responses\":{");
        for (int h = 0; h < 2; h++) {
            jw_s(&w, h == 0 ? "\"sha1\":" : ",\"sha256\":");
            if (!have[h]) {
                jw_s(&w, "null");
                continue;
            }
            jw_s(&w, "{\"this_update\":");
            jw_time(&w, r[h].hdr->this_update);
            jw_s(&w, ",\"next_update\":");
            jw_time(&w, r[h].hdr->next_update);
            jw_s(&w, ",\"produced_at\":");
            jw_time(&w, r[h].hdr->produced_at);
            jw_s(&w, "}");
        }
        jw_s(&w, "}}\n");
        if (w.over) {
            fprintf(err, "revokctl: status line too long\n");
            goto out;
        }
        fwrite(line, 1, w.len, out);
    } else if (known) {
        fprintf(out, "[issuer %s] serial %s\n", issuer, hex);
        rc_print_cert_text(out, &c);
    } else {
        fprintf(out,
                "[issuer %s] serial %s: not in the store (the responder answers "
                "unauthorized)\n",
                issuer, hex);
    }
    if (!json && (known || have[0] || have[1])) {
        char b1[32], b2[32];
        if (have[0])
            fprintf(out, "  OCSP response    thisUpdate %s, nextUpdate %s\n",
                    revokctl_fmt_time(r[0].hdr->this_update, b1, sizeof(b1)),
                    revokctl_fmt_time(r[0].hdr->next_update, b2, sizeof(b2)));
        else
            fprintf(out, "  OCSP response    none (the responder answers unauthorized)\n");
    }
    ret = known ? REVOKCTL_EXIT_OK : REVOKCTL_EXIT_UNKNOWN;
out:
    store_txn_abort(&t);
    return ret;
}

struct rc_list {
    FILE *out;
    bool json;
    bool first;
    size_t n;
};

static int rc_list_one(void *arg, const uint8_t *serial, size_t serial_len,
                       const struct store_cert *c)
{
    struct rc_list *l = arg;
    char hex[2 * DER_SERIAL_MAX + 1], b[32];
    sync_serial_hex(serial, serial_len, hex, sizeof(hex));
    l->n++;
    if (l->json) {
        char line[1024];
        struct rc_json w = {.buf = line, .cap = sizeof(line) - 1};
        jw_s(&w, l->first ? "\n  {\"serial\":" : ",\n  {\"serial\":");
        jw_str(&w, hex);
        jw_s(&w, ",\"cert\":");
        jw_cert(&w, c);
        jw_s(&w, "}");
        if (w.over)
            return -ENOSPC;
        fwrite(line, 1, w.len, l->out);
        l->first = false;
        return 0;
    }
    if (c->status == STORE_GOOD)
        fprintf(l->out, "%s\tgood\t-\t-\t%s\n", hex, revokctl_source_name(c->source));
    else
        fprintf(l->out, "%s\t%s\t%s\t%s\t%s\n", hex, c->status == STORE_HOLD ? "hold" : "revoked",
                revokctl_reason_name(c->reason), revokctl_fmt_time(c->revoked_at, b, sizeof(b)),
                revokctl_source_name(c->source));
    return 0;
}

int revokctl_list(struct store *store, const char *issuer, bool revoked_only, bool json, FILE *out,
                  FILE *err)
{
    struct store_txn t = {0};
    const struct store_issuer_rec *rec;
    struct rc_list l = {.out = out, .json = json, .first = true};
    int ret = REVOKCTL_EXIT_REFUSED;
    if (rc_open_issuer(store, &t, issuer, &rec, err) < 0)
        goto out;
    if (json)
        fprintf(out, "[");
    else
        fprintf(out, "# serial\tstatus\treason\trevocation_time\tsource\n");
    int rc = store_cert_foreach(&t, rec->id, revoked_only, rc_list_one, &l);
    if (json)
        fprintf(out, "%s]\n", l.first ? "" : "\n");
    if (rc < 0) {
        fprintf(err, "revokctl: store: %s\n", strerror(-rc));
        goto out;
    }
    ret = REVOKCTL_EXIT_OK;
out:
    store_txn_abort(&t);
    return ret;
}
