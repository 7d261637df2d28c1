/*
 * cadb — reads OpenSSL `index.txt` lines into struct cadb_entry. A line is split
 * into its six columns with TXT_DB's rule (a TAB preceded by a backslash belongs
 * to the field), then each column is checked on its own. All work is on
 * (pointer, length) spans of the caller's buffer bounded by the length given: no
 * NUL terminator is assumed, nothing is allocated, and an entry is only written to
 * the caller once the whole line has been accepted, so a bad line cannot leave a
 * half-filled entry behind.
 */
#include "cadb.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

/* A column or sub-field of a line: not NUL-terminated. */
struct span {
    const char *p;
    size_t n;
};

/* Indexes of the columns (apps/ca.c DB_type .. DB_name). */
enum { COL_TYPE, COL_EXP, COL_REV, COL_SERIAL, COL_FILE, COL_NAME };

/*
 * Reason words of the revocation column. OpenSSL's crl_reasons[] spells the first
 * eight; privilegeWithdrawn and AACompromise are RFC 5280's names for 9 and 10,
 * accepted so hand-edited or other tools' databases can use them. 7 is unused in
 * CRLReason. The ARG_ forms are OpenSSL's pseudo reasons that carry an argument.
 */
enum reason_arg { ARG_NONE, ARG_HOLD, ARG_TIME };

/* clang-format off */
static const struct {
    const char *name;
    uint8_t code;
    enum reason_arg arg;
} reasons[] = {
    {"unspecified",          0, ARG_NONE},
    {"keyCompromise",        1, ARG_NONE},
    {"CACompromise",         2, ARG_NONE},
    {"affiliationChanged",   3, ARG_NONE},
    {"superseded",           4, ARG_NONE},
    {"cessationOfOperation", 5, ARG_NONE},
    {"certificateHold",      6, ARG_NONE},
    {"removeFromCRL",        8, ARG_NONE},
    {"privilegeWithdrawn",   9, ARG_NONE},
    {"AACompromise",        10, ARG_NONE},
    {"holdInstruction",      6, ARG_HOLD},
    {"keyTime",              1, ARG_TIME},
    {"CAkeyTime",            2, ARG_TIME},
};
/* clang-format on */

#define CRL_REASON_HOLD   6
#define CRL_REASON_REMOVE 8

/* ASCII-only case folding: the C library's would depend on the locale. */
static char fold(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool span_ieq(struct span s, const char *word)
{
    size_t n = strlen(word);
    if (s.n != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (fold(s.p[i]) != fold(word[i]))
            return false;
    }
    return true;
}

/* Splits s at the first `sep`: *head gets what precedes it. Returns whether sep was found. */
static bool span_split(struct span s, char sep, struct span *head, struct span *tail)
{
    const char *q = s.n ? memchr(s.p, sep, s.n) : NULL;
    if (!q) {
        *head = s;
        tail->p = NULL;
        tail->n = 0;
        return false;
    }
    head->p = s.p;
    head->n = (size_t)(q - s.p);
    tail->p = q + 1;
    tail->n = s.n - head->n - 1;
    return true;
}

/*
 * Hex serial -> DER INTEGER content (der_serial_from_hex()), with the optional
 * leading '-' the serial column allows: two's complement for a negative one, so
 * the bytes equal what the certificate itself carries and what OCSP requests will
 * be looked up with.
 */
int cadb_parse_serial(const char *hex, size_t n, uint8_t out[DER_SERIAL_MAX], size_t *out_len,
                      unsigned *flags)
{
    bool neg = n > 0 && hex[0] == '-';
    if (der_serial_from_hex(hex + neg, n - neg, neg, out, out_len) < 0)
        return -EBADMSG; /* includes empty and a lone '-' */
    /* Zero, of either sign: `openssl ca` writes "00" when its serial file says so. */
    if (*out_len == 1 && out[0] == 0x00)
        *flags = CADB_F_SERIAL_ZERO;
    else
        *flags = neg ? CADB_F_SERIAL_NEGATIVE : 0;
    return 0;
}

static int parse_serial(struct span s, uint8_t out[DER_SERIAL_MAX], size_t *out_len,
                        unsigned *flags)
{
    return cadb_parse_serial(s.p, s.n, out, out_len, flags);
}

static bool all_digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
    }
    return true;
}

/*
 * A time as OpenSSL's non-strict ASN1_TIME reader takes it (crypto/asn1/a_time.c):
 * "YYMMDDHHMM[SS]" (UTCTime) or "YYYYMMDDHHMMSS[.f+]" (GeneralizedTime), then
 * "Z" or an offset "+hhmm"/"-hhmm" (hh <= 12). The form is told by the number of
 * digits: 10 or 12 are UTCTime, 14 GeneralizedTime; 12 digits that are no valid
 * UTCTime are a GeneralizedTime without seconds. Fractions are dropped.
 */
static int parse_time(struct span s, int64_t *out)
{
    size_t d = 0;
    while (d < s.n && s.p[d] >= '0' && s.p[d] <= '9')
        d++;
    if (d != 10 && d != 12 && d != 14)
        return -1;
    char canon[15];
    int64_t t, offset = 0;
    if (d == 14) {
        memcpy(canon, s.p, 14);
    } else {
        unsigned yy = (unsigned)(s.p[0] - '0') * 10 + (unsigned)(s.p[1] - '0');
        memcpy(canon, yy < 50 ? "20" : "19", 2); /* RFC 5280 4.1.2.5.1 */
        memcpy(canon + 2, s.p, d);
        if (d == 10)
            memcpy(canon + 12, "00", 2);
    }
    canon[14] = 'Z';
    if (d == 12 && der_time_parse(canon, 15, &t) < 0) {
        /* Not a UTCTime: a GeneralizedTime without seconds, as -crl_compromise takes it. */
        memcpy(canon, s.p, 12);
        memcpy(canon + 12, "00", 2);
    }
    size_t o = d;
    if (d == 14 && o < s.n && s.p[o] == '.') {
        size_t f = ++o;
        while (o < s.n && s.p[o] >= '0' && s.p[o] <= '9')
            o++;
        if (o == f)
            return -1;
    }
    if (der_time_parse(canon, 15, &t) < 0 || o >= s.n)
        return -1;
    if (s.p[o] == 'Z') {
        o++;
    } else if (s.p[o] == '+' || s.p[o] == '-') {
        if (s.n - o != 5 || !all_digits(s.p + o + 1, 4))
            return -1;
        const char *z = s.p + o + 1;
        int hh = (z[0] - '0') * 10 + (z[1] - '0'), mm = (z[2] - '0') * 10 + (z[3] - '0');
        if (hh > 12 || mm > 59)
            return -1;
        offset = (int64_t)(hh * 3600 + mm * 60) * (s.p[o] == '+' ? 1 : -1);
        o += 5;
    } else {
        return -1;
    }
    if (o != s.n)
        return -1;
    *out = t - offset; /* local time minus its offset from UTC */
    return 0;
}

/* The revocation column of an R line: "date[,reason[,arg]]", as unpack_revinfo() reads it. */
static int parse_revocation(struct span s, struct cadb_entry *e)
{
    struct span date, rest, word, arg;
    bool has_reason = span_split(s, ',', &date, &rest);
    if (parse_time(date, &e->revoked_at) < 0)
        return -1;
    e->status = STORE_REVOKED;
    e->reason = STORE_REASON_NONE;
    if (!has_reason)
        return 0;
    /* The argument runs to the end of the column, commas included, as in OpenSSL. */
    bool has_arg = span_split(rest, ',', &word, &arg);
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (!span_ieq(word, reasons[i].name))
            continue;
        e->reason = reasons[i].code;
        switch (reasons[i].arg) {
        case ARG_NONE:
            /* OpenSSL ignores an argument after a plain reason; so do we, so that
             * revokd and `openssl ca -gencrl` agree on every revocation. */
            break;
        case ARG_HOLD:
            if (!has_arg || arg.n == 0)
                return -1;
            e->hold_oid = arg.p;
            e->hold_oid_len = arg.n;
            break;
        case ARG_TIME:
            if (!has_arg || parse_time(arg, &e->invalidity) < 0)
                return -1;
            break;
        }
        if (e->reason == CRL_REASON_HOLD)
            e->status = STORE_HOLD;
        if (e->reason == CRL_REASON_REMOVE) {
            /* A hold released (RFC 5280 5.3.1): not revoked, whatever the line's type. */
            e->status = STORE_GOOD;
            e->reason = STORE_REASON_NONE;
            e->flags |= CADB_F_RELEASED;
        }
        return 0;
    }
    return -1; /* unknown or empty reason word */
}

int cadb_parse_line(const char *line, size_t len, struct cadb_entry *out)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len > CADB_LINE_MAX)
        return -EBADMSG;
    if (len == 0 || line[0] == '#')
        return 1;

    struct span col[CADB_FIELDS];
    size_t ncol = 0, start = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch == '\t') {
            if (i > 0 && line[i - 1] == '\\')
                continue; /* TXT_DB's escaped TAB: part of the field */
            if (ncol == CADB_FIELDS - 1)
                return -EBADMSG; /* too many columns */
            col[ncol].p = line + start;
            col[ncol].n = i - start;
            ncol++;
            start = i + 1;
        } else if (ch < 0x20 || ch == 0x7f) {
            /* OpenSSL writes names with such bytes escaped as \xHH; a raw one means
             * a corrupt file, and would end up in log lines if let through. */
            return -EBADMSG;
        }
    }
    col[ncol].p = line + start;
    col[ncol].n = len - start;
    ncol++;
    if (ncol != CADB_FIELDS)
        return -EBADMSG;

    struct cadb_entry e;
    memset(&e, 0, sizeof(e));
    if (col[COL_TYPE].n != 1)
        return -EBADMSG;
    e.type = col[COL_TYPE].p[0];
    e.reason = STORE_REASON_NONE;
    switch (e.type) {
    case 'V':
    case 'E':
        /* Expired but never revoked is still not revoked: the responder answers
         * good and the caller has not_after to decide what to keep. */
        e.status = STORE_GOOD;
        if (col[COL_REV].n != 0)
            return -EBADMSG;
        break;
    case 'R':
        if (parse_revocation(col[COL_REV], &e) < 0)
            return -EBADMSG;
        break;
    default:
        return -EBADMSG;
    }
    if (parse_time(col[COL_EXP], &e.not_after) < 0)
        return -EBADMSG;
    unsigned sflags;
    if (parse_serial(col[COL_SERIAL], e.serial, &e.serial_len, &sflags) < 0)
        return -EBADMSG;
    e.flags |= sflags;
    e.subject = col[COL_NAME].p;
    e.subject_len = col[COL_NAME].n;
    *out = e;
    return 0;
}

void cadb_iter_init(struct cadb_iter *it, const char *buf, size_t len)
{
    it->p = buf;
    it->left = buf ? len : 0;
    it->line = 0;
}

int cadb_next(struct cadb_iter *it, struct cadb_entry *out, unsigned *lineno)
{
    while (it->left > 0) {
        const char *line = it->p;
        const char *nl = memchr(line, '\n', it->left);
        size_t n = nl ? (size_t)(nl - line) : it->left;
        size_t step = nl ? n + 1 : n; /* a last line without "\n" is still a line */
        it->p += step;
        it->left -= step;
        /* Saturate rather than wrap: past 4G lines a number is only a hint anyway. */
        if (it->line < UINT_MAX)
            it->line++;
        int r = cadb_parse_line(line, n, out);
        if (r == 1)
            continue;
        if (lineno)
            *lineno = it->line;
        return r < 0 ? r : 1;
    }
    return 0;
}
