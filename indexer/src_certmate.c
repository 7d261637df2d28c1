/*
 * src_certmate — a CertMate certificate store as a source (see src_certmate.h):
 * a two-level directory walk, cert.crt checked against the CA, and
 * metadata.json read by the strict, length-checked JSON cursor below. The JSON
 * reader validates the whole document (so a truncated or half-written file is
 * refused, never half-believed) but keeps only the few fields revokd needs.
 */
#include "src_certmate.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "der.h"
#include "log.h"
#include "src_x509.h"

/* ---- strict JSON cursor ---- */

struct js {
    const char *p, *end;
    int depth;
    bool err; /* sticky: once set, every read fails */
};

enum js_kind { JS_STR, JS_NUM, JS_TRUE, JS_FALSE, JS_NULL, JS_OBJ, JS_ARR };

static bool js_fail(struct js *j)
{
    j->err = true;
    return false;
}

static void js_ws(struct js *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool js_lit(struct js *j, char c)
{
    js_ws(j);
    if (j->err || j->p >= j->end || *j->p != c)
        return js_fail(j);
    j->p++;
    return true;
}

static bool js_peek(struct js *j, char c)
{
    js_ws(j);
    return !j->err && j->p < j->end && *j->p == c;
}

static int js_hex4(struct js *j)
{
    if (j->end - j->p < 4)
        return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = j->p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    j->p += 4;
    return v;
}

/* Appends code point cp as UTF-8 to out[*n..cap) if out; *trunc when it does not fit. */
static void js_put(char *out, size_t cap, size_t *n, bool *trunc, uint32_t cp)
{
    uint8_t b[4];
    size_t k;
    if (cp < 0x80)
        b[0] = (uint8_t)cp, k = 1;
    else if (cp < 0x800)
        b[0] = (uint8_t)(0xc0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3f)), k = 2;
    else if (cp < 0x10000)
        b[0] = (uint8_t)(0xe0 | cp >> 12), b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f)),
        b[2] = (uint8_t)(0x80 | (cp & 0x3f)), k = 3;
    else
        b[0] = (uint8_t)(0xf0 | cp >> 18), b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f)),
        b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f)), b[3] = (uint8_t)(0x80 | (cp & 0x3f)), k = 4;
    if (!out)
        return;
    if (*n + k >= cap) { /* keep room for the NUL */
        *trunc = true;
        return;
    }
    memcpy(out + *n, b, k);
    *n += k;
}

/* One UTF-8 sequence starting at j->p (RFC 3629: no overlongs, no surrogates). */
static bool js_utf8(struct js *j, uint32_t *cp)
{
    const uint8_t *s = (const uint8_t *)j->p;
    size_t left = (size_t)(j->end - j->p), k;
    uint32_t v, min;
    if (s[0] < 0x80)
        k = 1, v = s[0], min = 0;
    else if ((s[0] & 0xe0) == 0xc0)
        k = 2, v = s[0] & 0x1f, min = 0x80;
    else if ((s[0] & 0xf0) == 0xe0)
        k = 3, v = s[0] & 0x0f, min = 0x800;
    else if ((s[0] & 0xf8) == 0xf0)
        k = 4, v = s[0] & 0x07, min = 0x10000;
    else
        return false;
    if (left < k)
        return false;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return false;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return false;
    j->p += k;
    *cp = v;
    return true;
}

/*
 * A string at the cursor (after white space). Decoded into out (NUL-terminated,
 * *trunc set if it did not fit) when out is not NULL; validated either way.
 */
static bool js_string(struct js *j, char *out, size_t cap, bool *trunc)
{
    size_t n = 0;
    bool t = false;
    if (!js_lit(j, '"'))
        return false;
    for (;;) {
        if (j->p >= j->end)
            return js_fail(j);
        uint8_t c = (uint8_t)*j->p;
        uint32_t cp;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20)
            return js_fail(j); /* RFC 8259 7: control characters must be escaped */
        if (c == '\\') {
            j->p++;
            if (j->p >= j->end)
                return js_fail(j);
            char e = *j->p++;
            switch (e) {
            case '"':
                cp = '"';
                break;
            case '\\':
                cp = '\\';
                break;
            case '/':
                cp = '/';
                break;
            case 'b':
                cp = '\b';
                break;
            case 'f':
                cp = '\f';
                break;
            case 'n':
                cp = '\n';
                break;
            case 'r':
                cp = '\r';
                break;
            case 't':
                cp = '\t';
                break;
            case 'u': {
                int hi = js_hex4(j);
                if (hi < 0 || (hi >= 0xdc00 && hi <= 0xdfff))
                    return js_fail(j);
                cp = (uint32_t)hi;
                if (hi >= 0xd800 && hi <= 0xdbff) {
                    /* A high surrogate must be followed by an escaped low one. */
                    if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
                        return js_fail(j);
                    j->p += 2;
                    int lo = js_hex4(j);
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return js_fail(j);
                    cp = 0x10000 + (((uint32_t)hi - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
                }
                break;
            }
            default:
                return js_fail(j);
            }
        } else if (!js_utf8(j, &cp)) {
            return js_fail(j);
        }
        js_put(out, cap, &n, &t, cp);
    }
    if (out)
        out[n] = '\0';
    if (trunc)
        *trunc = t;
    return true;
}

static bool js_digits(struct js *j)
{
    const char *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > s;
}

/* A number (RFC 8259 6 grammar); its text is [*s, j->p). */
static bool js_number(struct js *j, const char **s)
{
    js_ws(j);
    *s = j->p;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (!js_digits(j))
        return js_fail(j);
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!js_digits(j))
            return js_fail(j);
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!js_digits(j))
            return js_fail(j);
    }
    return true;
}

static bool js_word(struct js *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
        return js_fail(j);
    j->p += n;
    return true;
}

/* The kind of the value at the cursor, without consuming it. */
static bool js_kind(struct js *j, enum js_kind *k)
{
    js_ws(j);
    if (j->err || j->p >= j->end)
        return js_fail(j);
    switch (*j->p) {
    case '"':
        *k = JS_STR;
        return true;
    case '{':
        *k = JS_OBJ;
        return true;
    case '[':
        *k = JS_ARR;
        return true;
    case 't':
        *k = JS_TRUE;
        return true;
    case 'f':
        *k = JS_FALSE;
        return true;
    case 'n':
        *k = JS_NULL;
        return true;
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
            *k = JS_NUM;
            return true;
        }
        return js_fail(j);
    }
}

static bool js_skip(struct js *j);

/* Walks "{ ... }" or "[ ... ]" whose opening the cursor is on, skipping every member. */
static bool js_skip_container(struct js *j, bool obj)
{
    if (++j->depth > SRC_META_DEPTH_MAX)
        return js_fail(j);
    j->p++;
    if (js_peek(j, obj ? '}' : ']')) {
        j->p++;
        j->depth--;
        return true;
    }
    for (;;) {
        if (obj && (!js_string(j, NULL, 0, NULL) || !js_lit(j, ':')))
            return false;
        if (!js_skip(j))
            return false;
        if (js_peek(j, ',')) {
            j->p++;
            continue;
        }
        if (!js_lit(j, obj ? '}' : ']'))
            return false;
        j->depth--;
        return true;
    }
}

static bool js_skip(struct js *j)
{
    enum js_kind k;
    const char *s;
    if (!js_kind(j, &k))
        return false;
    switch (k) {
    case JS_STR:
        return js_string(j, NULL, 0, NULL);
    case JS_NUM:
        return js_number(j, &s);
    case JS_TRUE:
        return js_word(j, "true");
    case JS_FALSE:
        return js_word(j, "false");
    case JS_NULL:
        return js_word(j, "null");
    case JS_OBJ:
        return js_skip_container(j, true);
    case JS_ARR:
        return js_skip_container(j, false);
    }
    return js_fail(j);
}

/*
 * Iterates over the members of the object the cursor is on: call with *first
 * true; returns 1 with the key in key[] (truncated keys are "" so they match
 * nothing), 0 at the closing brace, -1 on error.
 */
static int js_member(struct js *j, bool *first, char *key, size_t cap)
{
    if (*first) {
        *first = false;
        if (!js_lit(j, '{'))
            return -1;
        if (++j->depth > SRC_META_DEPTH_MAX)
            return js_fail(j), -1;
        if (js_peek(j, '}')) {
            j->p++;
            j->depth--;
            return 0;
        }
    } else {
        if (js_peek(j, '}')) {
            j->p++;
            j->depth--;
            return 0;
        }
        if (!js_lit(j, ','))
            return -1;
    }
    bool trunc = false;
    if (!js_string(j, key, cap, &trunc) || !js_lit(j, ':'))
        return -1;
    if (trunc)
        key[0] = '\0';
    return 1;
}

/* ---- CertMate fields ---- */

static const struct {
    const char *name; /* lower case, without '_', '-' or ' ' */
    uint8_t code;
} certmate_reasons[] = {
    {"unspecified", 0},        {"keycompromise", 1},      {"cacompromise", 2},
    {"affiliationchanged", 3}, {"superseded", 4},         {"cessationofoperation", 5},
    {"certificatehold", 6},    {"privilegewithdrawn", 9}, {"aacompromise", 10},
};

/* "keyCompromise", "key_compromise", "KEY-COMPROMISE" -> 1; -1 if no CRLReason. */
static int certmate_reason(const char *s)
{
    char norm[SRC_META_STR_MAX];
    size_t n = 0;
    for (; *s && n + 1 < sizeof(norm); s++) {
        char c = *s;
        if (c == '_' || c == '-' || c == ' ')
            continue;
        norm[n++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    norm[n] = '\0';
    for (size_t i = 0; i < sizeof(certmate_reasons) / sizeof(certmate_reasons[0]); i++)
        if (strcmp(norm, certmate_reasons[i].name) == 0)
            return certmate_reasons[i].code;
    return -1;
}

static int certmate_2(const char *s, int *v)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    *v = (s[0] - '0') * 10 + (s[1] - '0');
    return 0;
}

int src_certmate_parse_time(const char *s, size_t n, int64_t *out)
{
    /* YYYY-MM-DDTHH:MM:SS = 19 characters, then fraction and zone. */
    if (n < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':')
        return -EBADMSG;
    char g[15];
    static const int at[] = {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18};
    for (size_t i = 0; i < 14; i++) {
        char c = s[at[i]];
        if (c < '0' || c > '9')
            return -EBADMSG;
        g[i] = c;
    }
    g[14] = 'Z';
    int64_t t;
    if (der_time_parse(g, sizeof(g), &t) < 0)
        return -EBADMSG;
    size_t i = 19;
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - d < 9)
            i++;
        if (i == d)
            return -EBADMSG; /* a dot without digits */
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int hh, mm;
        if (n - i != 6 || s[i + 3] != ':' || certmate_2(s + i + 1, &hh) < 0 ||
            certmate_2(s + i + 4, &mm) < 0 || hh > 23 || mm > 59)
            return -EBADMSG;
        int64_t off = (int64_t)hh * 3600 + mm * 60;
        t += s[i] == '+' ? -off : off; /* local = UTC + offset */
        i += 6;
    }
    if (i != n)
        return -EBADMSG;
    *out = t;
    return 0;
}

static int certmate_revocation(struct js *j, struct src_certmate_meta *m)
{
    char key[32], val[SRC_META_STR_MAX];
    bool first = true, seen_revoked = false, seen_at = false, seen_reason = false;
    bool has_reason = false;
    int r;
    while ((r = js_member(j, &first, key, sizeof(key))) == 1) {
        enum js_kind k;
        if (!js_kind(j, &k))
            return -EBADMSG;
        if (strcmp(key, "revoked") == 0) {
            if (seen_revoked || (k != JS_TRUE && k != JS_FALSE))
                return -EBADMSG;
            seen_revoked = true;
            m->revoked = k == JS_TRUE;
        } else if (strcmp(key, "revoked_at") == 0) {
            if (seen_at || (k != JS_STR && k != JS_NULL))
                return -EBADMSG;
            seen_at = true;
            if (k == JS_STR) {
                bool trunc;
                if (!js_string(j, val, sizeof(val), &trunc) || trunc ||
                    src_certmate_parse_time(val, strlen(val), &m->revoked_at) < 0)
                    return -EBADMSG;
                m->has_revoked_at = true;
                continue;
            }
        } else if (strcmp(key, "reason_revoked") == 0) {
            if (seen_reason || (k != JS_STR && k != JS_NULL))
                return -EBADMSG;
            seen_reason = true;
            if (k == JS_STR) {
                bool trunc;
                if (!js_string(j, val, sizeof(val), &trunc))
                    return -EBADMSG;
                int code = trunc ? -1 : certmate_reason(val);
                has_reason = true;
                if (code < 0)
                    m->reason_unknown = true;
                else
                    m->reason = (uint8_t)code;
                continue;
            }
        }
        if (!js_skip(j))
            return -EBADMSG;
    }
    if (r < 0 || !seen_revoked)
        return -EBADMSG;
    /* A time or reason on a certificate said not to be revoked: which half is true? */
    if (!m->revoked && (m->has_revoked_at || has_reason))
        return -EBADMSG;
    return 0;
}

int src_certmate_parse_meta(const char *buf, size_t len, struct src_certmate_meta *out)
{
    struct src_certmate_meta m = {.reason = STORE_REASON_NONE};
    struct js j = {.p = buf, .end = buf + len};
    char key[32];
    bool first = true, seen_revocation = false;
    int r;
    if (len > SRC_META_MAX)
        return -EBADMSG;
    /* A UTF-8 byte order mark is not JSON (RFC 8259 8.1 lets parsers refuse it). */
    while ((r = js_member(&j, &first, key, sizeof(key))) == 1) {
        enum js_kind k;
        if (!js_kind(&j, &k))
            return -EBADMSG;
        if (strcmp(key, "serial_number") == 0) {
            if (m.has_serial)
                return -EBADMSG;
            m.has_serial = true;
            if (k == JS_STR) {
                bool trunc;
                if (!js_string(&j, m.serial, sizeof(m.serial), &trunc) || trunc)
                    return -EBADMSG;
            } else if (k == JS_NUM) {
                const char *s;
                if (!js_number(&j, &s) || (size_t)(j.p - s) >= sizeof(m.serial))
                    return -EBADMSG;
                memcpy(m.serial, s, (size_t)(j.p - s));
                m.serial[j.p - s] = '\0';
            } else if (k == JS_NULL) {
                m.has_serial = false;
                if (!js_skip(&j))
                    return -EBADMSG;
            } else {
                return -EBADMSG;
            }
        } else if (strcmp(key, "revocation") == 0) {
            if (seen_revocation || k != JS_OBJ)
                return -EBADMSG;
            seen_revocation = true;
            if (certmate_revocation(&j, &m) < 0)
                return -EBADMSG;
        } else if (!js_skip(&j)) {
            return -EBADMSG;
        }
    }
    if (r < 0 || j.err || !seen_revocation)
        return -EBADMSG;
    js_ws(&j);
    if (j.p != j.end)
        return -EBADMSG; /* anything after the object: two documents, or garbage */
    *out = m;
    return 0;
}

/*
 * The metadata's serial_number against the certificate's serial (DER INTEGER
 * content, positive). Decimal as CertMate writes str(int); hex with a 0x prefix
 * or colons also accepted. Returns true if they name the same number.
 */
static bool certmate_serial_matches(const char *s, const uint8_t *ser, size_t ser_len)
{
    uint8_t mag[STORE_SERIAL_MAX + 1] = {0}; /* big-endian magnitude, fixed width */
    const size_t w = sizeof(mag);
    size_t n = strlen(s);
    bool hex = false;
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2, n -= 2, hex = true;
    else if (memchr(s, ':', n))
        hex = true;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        unsigned d;
        if (hex && c == ':')
            continue;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (hex && c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (hex && c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        unsigned carry = d, base = hex ? 16 : 10;
        for (size_t k = w; k-- > 0;) {
            unsigned v = mag[k] * base + carry;
            mag[k] = (uint8_t)v;
            carry = v >> 8;
        }
        if (carry)
            return false; /* longer than any serial the store holds */
    }
    /* A positive DER INTEGER is the magnitude with one leading 00 when its top bit is set. */
    if (ser_len == 0 || (ser[0] & 0x80))
        return false;
    size_t skip = 0;
    while (skip < w - 1 && mag[skip] == 0)
        skip++;
    const uint8_t *a = ser;
    size_t alen = ser_len;
    if (alen > 1 && a[0] == 0)
        a++, alen--;
    return alen == w - skip && memcmp(a, mag + skip, alen) == 0;
}

/* ---- the directory walk ---- */

struct certmate_one {
    X509 *ca;
    struct src_entry e;
    int verdict; /* enum src_cert_verdict of the first certificate; -1 before */
    int count;
};

static int certmate_cert(void *arg, X509 *x)
{
    struct certmate_one *o = arg;
    if (o->count++ == 0)
        o->verdict = (int)src_cert_check(x, o->ca, &o->e);
    return 0;
}

/* Reads one <usage>/<id>/ directory. Returns 0 (an entry pushed or counted), or -ENOMEM. */
static int certmate_id(const char *name, const char *dir, X509 *ca, struct src_cache *cache,
                       uint32_t origin, struct src_snapshot *out)
{
    char path[4096];
    uint8_t *buf = NULL;
    size_t len;
    struct stat st, mst;
    struct certmate_one o = {.ca = ca, .verdict = -1};
    struct src_certmate_meta m;
    const char *why = NULL;
    int r;

    if (snprintf(path, sizeof(path), "%s/cert.crt", dir) >= (int)sizeof(path)) {
        why = "path too long";
        goto bad;
    }
    size_t nc;
    const struct src_cache_cert *hit;
    if (cache && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
        (hit = src_cache_get(cache, path, &st, &nc)) != NULL) {
        /* Unchanged since it was verified: not read again. */
        o.count = (int)nc;
        if (nc) {
            o.verdict = hit[0].verdict;
            o.e = hit[0].e;
        }
    } else {
        if ((r = src_read_file(path, SRC_CERT_FILE_MAX, &buf, &len, &st)) < 0) {
            why = r == -ENOENT ? "no cert.crt" : strerror(-r);
            goto bad;
        }
        r = src_x509_each(buf, len, certmate_cert, &o);
        free(buf);
        buf = NULL;
        if (r < 0 && r != -EBADMSG)
            return r;
        if (r == -EBADMSG)
            o.count = 0;
        /* The first certificate's verdict, twice when there were more, so a cache hit
         * refuses a cert.crt of several certificates exactly as a read does. */
        struct src_cache_cert cc[2] = {{.verdict = (uint8_t)o.verdict, .e = o.e},
                                       {.verdict = (uint8_t)o.verdict, .e = o.e}};
        if (cache &&
            (r = src_cache_put(cache, path, &st, cc, o.count > 1 ? 2 : (size_t)o.count)) < 0)
            return r;
    }
    if (o.count == 0) {
        why = "cert.crt holds no readable certificate";
        goto bad;
    }
    if (o.count > 1) {
        why = "cert.crt holds more than one certificate: which one is this entry's?";
        goto bad;
    }
    if (o.verdict == SRC_CERT_FOREIGN) {
        out->foreign++;
        log_warn("[issuer %s] certmate_dir %s: cert.crt is issued by another CA than ca_cert: "
                 "ignored",
                 name, dir);
        return 0;
    }
    if (o.verdict == SRC_CERT_BAD_SIG) {
        why = "cert.crt names ca_cert as issuer but the CA key does not verify its signature "
              "(forged or corrupt)";
        goto bad;
    }
    if (o.verdict != SRC_CERT_OURS) {
        why = "cert.crt has a serial or validity the store cannot hold";
        goto bad;
    }
    snprintf(path, sizeof(path), "%s/metadata.json", dir);
    if ((r = src_read_file(path, SRC_META_MAX, &buf, &len, &mst)) < 0) {
        why = r == -ENOENT ? "no metadata.json" : strerror(-r);
        goto bad;
    }
    r = src_certmate_parse_meta((const char *)buf, len, &m);
    free(buf);
    buf = NULL;
    if (r < 0) {
        why = "metadata.json is not strict JSON with a revocation block (revoked: true/false)";
        goto bad;
    }
    if (m.has_serial && !certmate_serial_matches(m.serial, o.e.serial, o.e.serial_len)) {
        why = "metadata.json serial_number is not cert.crt's serial";
        goto bad;
    }
    o.e.origin = origin;
    if (m.revoked) {
        o.e.status = m.reason == 6 ? STORE_HOLD : STORE_REVOKED;
        o.e.reason = m.reason;
        o.e.revoked_at = m.has_revoked_at ? m.revoked_at : (int64_t)mst.st_mtim.tv_sec;
        if (!m.has_revoked_at)
            log_warn("[issuer %s] certmate_dir %s: revoked without revoked_at: revoked as of "
                     "metadata.json's modification time",
                     name, dir);
        if (m.reason_unknown)
            log_warn("[issuer %s] certmate_dir %s: reason_revoked names no CRLReason: revoked "
                     "with no reason",
                     name, dir);
    }
    return src_snapshot_push(out, &o.e);
bad:
    out->malformed++;
    log_err("[issuer %s] certmate_dir %s: %s: skipped, that certificate keeps its stored state "
            "and the sync is incomplete",
            name, dir, why);
    return 0;
}

/* Calls fn for every subdirectory of dir not starting with '.'. Returns 0 or -errno. */
static int certmate_subdirs(const char *dir, int (*fn)(void *arg, const char *sub), void *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    char path[4096];
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            rc = -errno;
            break;
        }
        if (de->d_name[0] == '.')
            continue;
        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN && de->d_type != DT_LNK)
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
            continue;
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if ((rc = fn(arg, path)) < 0)
            break;
    }
    closedir(d);
    return rc;
}

struct certmate_walk {
    const char *name;
    X509 *ca;
    struct src_cache *cache;
    struct src_snapshot *out;
    uint32_t n;
};

static int certmate_on_id(void *arg, const char *dir)
{
    struct certmate_walk *w = arg;
    if (++w->n > SRC_CERTMATE_MAX)
        return -EFBIG;
    return certmate_id(w->name, dir, w->ca, w->cache, w->n, w->out);
}

static int certmate_on_usage(void *arg, const char *dir)
{
    struct certmate_walk *w = arg;
    int rc = certmate_subdirs(dir, certmate_on_id, w);
    if (rc < 0 && rc != -ENOMEM && rc != -EFBIG) {
        /* A usage directory that vanished or cannot be read: its certificates keep state. */
        w->out->malformed++;
        log_err("[issuer %s] certmate_dir %s: %s: sync incomplete", w->name, dir, strerror(-rc));
        return 0;
    }
    return rc;
}

int src_certmate_read(const char *name, const char *root, X509 *ca, struct src_cache *cache,
                      struct src_snapshot *out)
{
    src_snapshot_free(out);
    src_snapshot_init(out, STORE_SRC_CERTMATE);
    struct certmate_walk w = {.name = name, .ca = ca, .cache = cache, .out = out};
    int rc = certmate_subdirs(root, certmate_on_usage, &w);
    if (rc < 0) {
        log_err("[issuer %s] certmate_dir %s: %s", name, root,
                rc == -EFBIG ? "too many certificate directories" : strerror(-rc));
        src_snapshot_free(out);
        return rc;
    }
    if (cache)
        src_cache_sweep(cache);
    src_snapshot_fold(out);
    return 0;
}
