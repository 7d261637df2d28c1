/*
 * http — request-head parsing and RFC 5019 path decoding for the responder.
 * The parser is stateless: it re-reads the head from the start on every call,
 * which costs nothing next to a syscall for heads of a few hundred bytes and
 * means a connection keeps no parser state between reads. It walks the bytes
 * with a cursor that never reads past its end; reaching the end of the bytes
 * inside a head means "need more" (-2), and a byte that no valid head could
 * contain there means "malformed" (-1) at once, so garbage is refused without
 * waiting for HTTP_HEAD_MAX bytes. Only the fields the handler acts on are kept.
 */
#include "http.h"

#include <string.h>

#include "der.h"

/* A read cursor over [p, end); every access checks p < end first. */
struct http_cur {
    const uint8_t *p, *end;
};

/* Outcome of a step: keep going, need more bytes, or malformed. */
enum { HTTP_OK = 0, HTTP_MORE = -2, HTTP_BAD = -1 };

/* RFC 9110 5.6.2 token characters: a table, since every header name byte is checked. */
static const bool http_tchar[256] = {
#define HTTP_T(c) [(unsigned char)(c)] = true
    HTTP_T('!'), HTTP_T('#'), HTTP_T('$'), HTTP_T('%'), HTTP_T('&'), HTTP_T('\''), HTTP_T('*'),
    HTTP_T('+'), HTTP_T('-'), HTTP_T('.'), HTTP_T('^'), HTTP_T('_'), HTTP_T('`'),  HTTP_T('|'),
    HTTP_T('~'), HTTP_T('0'), HTTP_T('1'), HTTP_T('2'), HTTP_T('3'), HTTP_T('4'),  HTTP_T('5'),
    HTTP_T('6'), HTTP_T('7'), HTTP_T('8'), HTTP_T('9'), HTTP_T('A'), HTTP_T('B'),  HTTP_T('C'),
    HTTP_T('D'), HTTP_T('E'), HTTP_T('F'), HTTP_T('G'), HTTP_T('H'), HTTP_T('I'),  HTTP_T('J'),
    HTTP_T('K'), HTTP_T('L'), HTTP_T('M'), HTTP_T('N'), HTTP_T('O'), HTTP_T('P'),  HTTP_T('Q'),
    HTTP_T('R'), HTTP_T('S'), HTTP_T('T'), HTTP_T('U'), HTTP_T('V'), HTTP_T('W'),  HTTP_T('X'),
    HTTP_T('Y'), HTTP_T('Z'), HTTP_T('a'), HTTP_T('b'), HTTP_T('c'), HTTP_T('d'),  HTTP_T('e'),
    HTTP_T('f'), HTTP_T('g'), HTTP_T('h'), HTTP_T('i'), HTTP_T('j'), HTTP_T('k'),  HTTP_T('l'),
    HTTP_T('m'), HTTP_T('n'), HTTP_T('o'), HTTP_T('p'), HTTP_T('q'), HTTP_T('r'),  HTTP_T('s'),
    HTTP_T('t'), HTTP_T('u'), HTTP_T('v'), HTTP_T('w'), HTTP_T('x'), HTTP_T('y'),  HTTP_T('z'),
#undef HTTP_T
};

static bool http_is_tchar(uint8_t ch)
{
    return http_tchar[ch];
}

/* Field values: HTAB, SP, VCHAR and obs-text; never NUL, CR, LF or other controls. */
static bool http_is_vchar(uint8_t ch)
{
    return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

static bool http_ieq_n(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++) {
        uint8_t x = (uint8_t)a[i], y = (uint8_t)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (uint8_t)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (uint8_t)(y + 32);
        if (x != y)
            return false;
    }
    return true;
}

/* Case-insensitive a == the string literal lit (its length known at compile time). */
#define http_ieq(a, alen, lit) http_ieq_n((a), (alen), "" lit, sizeof(lit) - 1)

/*
 * Consumes a line end (CRLF or LF) at the cursor. Returns HTTP_OK, HTTP_MORE if
 * the bytes stop after a CR, or HTTP_BAD if the next byte is not a line end.
 */
static int http_eol(struct http_cur *c)
{
    if (c->p >= c->end)
        return HTTP_MORE;
    if (*c->p == '\n') {
        c->p++;
        return HTTP_OK;
    }
    if (*c->p != '\r')
        return HTTP_BAD;
    if (c->end - c->p < 2)
        return HTTP_MORE;
    if (c->p[1] != '\n')
        return HTTP_BAD; /* a bare CR is a classic smuggling vector */
    c->p += 2;
    return HTTP_OK;
}

static bool http_at_eol(const struct http_cur *c)
{
    return c->p < c->end && (*c->p == '\r' || *c->p == '\n');
}

/* Reduces an absolute-form target (RFC 9112 3.2.2) to its path; others pass through. */
static void http_origin_form(struct http_req *req)
{
    static const char slash[] = "/";
    const char *t = req->path;
    size_t n = req->path_len, skip;
    if (n >= 7 && http_ieq(t, 7, "http://"))
        skip = 7;
    else if (n >= 8 && http_ieq(t, 8, "https://"))
        skip = 8;
    else
        return;
    const char *q = memchr(t + skip, '/', n - skip);
    if (q) {
        req->path = q;
        req->path_len = n - (size_t)(q - t);
    } else {
        /* "http://host" alone means "/"; the only path not pointing into buf. */
        req->path = slash;
        req->path_len = 1;
    }
}

/* Applies one complete Connection value: a comma-separated list of tokens. */
static void http_connection(struct http_req *req, const char *v, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (http_ieq(v + s, i - s, "close"))
            req->conn_close = true;
        else if (http_ieq(v + s, i - s, "keep-alive"))
            req->conn_keep_alive = true;
    }
}

/* Strict Content-Length: 1*DIGIT that fits 64 bits; a list ("5, 5") is refused. */
static int http_content_length(struct http_req *req, const char *v, size_t n)
{
    uint64_t x = 0;
    if (n == 0)
        return HTTP_BAD;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return HTTP_BAD;
        unsigned d = (unsigned)(v[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return HTTP_BAD;
        x = x * 10 + d;
    }
    if (req->has_content_length)
        return HTTP_BAD; /* two lengths, even equal ones: the peer or a proxy is confused */
    req->has_content_length = true;
    req->content_length = x;
    return HTTP_OK;
}

static int http_header(struct http_req *req, const char *name, size_t nlen, const char *v,
                       size_t vlen)
{
    if (http_ieq(name, nlen, "content-length"))
        return http_content_length(req, v, vlen);
    if (http_ieq(name, nlen, "host")) {
        req->n_host++; /* checked once the head is complete */
        return HTTP_OK;
    }
    if (http_ieq(name, nlen, "content-type")) {
        if (!req->content_type) {
            req->content_type = v;
            req->content_type_len = vlen;
        }
    } else if (http_ieq(name, nlen, "if-none-match")) {
        /* Several lines form one list (RFC 9110 5.3); keep each line's value. */
        if (req->n_if_none_match < HTTP_INM_MAX) {
            req->if_none_match[req->n_if_none_match] = v;
            req->if_none_match_len[req->n_if_none_match] = vlen;
        }
        req->n_if_none_match++;
    } else if (http_ieq(name, nlen, "if-modified-since")) {
        if (req->n_if_modified_since++ == 0) {
            req->if_modified_since = v;
            req->if_modified_since_len = vlen;
        }
    } else if (http_ieq(name, nlen, "connection")) {
        http_connection(req, v, vlen);
    } else if (http_ieq(name, nlen, "transfer-encoding")) {
        req->has_transfer_encoding = true;
    } else if (http_ieq(name, nlen, "expect")) {
        /* RFC 9110 10.1.1: a 100-continue expectation in HTTP/1.0 MUST be ignored
         * (a 1.0 client cannot parse the interim response). */
        if (http_ieq(v, vlen, "100-continue"))
            req->expect_continue = req->minor >= 1;
        else
            req->expect_other = true;
    }
    return HTTP_OK;
}

/* method SP request-target SP HTTP/1.x EOL */
static int http_request_line(struct http_cur *c, struct http_req *req)
{
    const uint8_t *s = c->p;
    while (c->p < c->end && *c->p != ' ') {
        if (!http_is_tchar(*c->p) || (size_t)(c->p - s) >= HTTP_METHOD_MAX)
            return HTTP_BAD;
        c->p++;
    }
    if (c->p >= c->end)
        return HTTP_MORE;
    size_t mlen = (size_t)(c->p - s);
    if (mlen == 0)
        return HTTP_BAD;
    req->method_str = (const char *)s;
    req->method_len = mlen;
    if (mlen == 3 && memcmp(s, "GET", 3) == 0)
        req->method = HTTP_GET;
    else if (mlen == 4 && memcmp(s, "POST", 4) == 0)
        req->method = HTTP_POST;
    else if (mlen == 4 && memcmp(s, "HEAD", 4) == 0)
        req->method = HTTP_HEAD;
    else
        req->method = HTTP_OTHER;
    c->p++; /* SP */

    s = c->p;
    while (c->p < c->end && *c->p != ' ') {
        if (*c->p < 0x21 || *c->p > 0x7e)
            return HTTP_BAD; /* controls, DEL, non-ASCII: never in a request-target */
        if ((size_t)(c->p - s) >= HTTP_PATH_MAX) {
            req->err_status = 414;
            return HTTP_BAD;
        }
        c->p++;
    }
    if (c->p >= c->end)
        return HTTP_MORE;
    if (c->p == s || !(*s == '/' || *s == '*' || *s == 'h' || *s == 'H'))
        return HTTP_BAD;
    req->path = (const char *)s;
    req->path_len = (size_t)(c->p - s);
    c->p++; /* SP */

    static const char proto[] = "HTTP/";
    for (size_t i = 0; i < sizeof(proto) - 1; i++, c->p++) {
        if (c->p >= c->end)
            return HTTP_MORE;
        if (*c->p != (uint8_t)proto[i])
            return HTTP_BAD;
    }
    /* DIGIT "." DIGIT; a well-formed version other than 1.0/1.1 gets 505. */
    uint8_t v[3];
    for (size_t i = 0; i < 3; i++, c->p++) {
        if (c->p >= c->end)
            return HTTP_MORE;
        v[i] = *c->p;
        bool ok = i == 1 ? v[i] == '.' : (v[i] >= '0' && v[i] <= '9');
        if (!ok)
            return HTTP_BAD;
    }
    if (v[0] != '1' || v[2] > '1') {
        req->err_status = 505;
        return HTTP_BAD;
    }
    req->minor = v[2] - '0';
    bool asterisk = req->path_len == 1 && *req->path == '*'; /* OPTIONS * */
    if (*req->path != '/' && !asterisk) {
        http_origin_form(req);
        if (*req->path != '/')
            return HTTP_BAD; /* "hxyz" or "*x": neither origin- nor absolute-form */
    }
    return http_eol(c);
}

/* One header line, or the empty line ending the head (*done set). */
static int http_header_line(struct http_cur *c, struct http_req *req, bool *done)
{
    if (http_at_eol(c)) {
        int rc = http_eol(c);
        *done = rc == HTTP_OK;
        return rc;
    }
    if (c->p >= c->end)
        return HTTP_MORE;
    /* obs-fold (a line starting with SP/HTAB) and "name :" are refused (RFC 9112 5). */
    const uint8_t *name = c->p;
    while (c->p < c->end && *c->p != ':') {
        if (!http_is_tchar(*c->p))
            return HTTP_BAD;
        c->p++;
    }
    if (c->p >= c->end)
        return HTTP_MORE;
    size_t nlen = (size_t)(c->p - name);
    if (nlen == 0)
        return HTTP_BAD;
    c->p++; /* ':' */
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
    const uint8_t *val = c->p;
    while (c->p < c->end && !http_at_eol(c)) {
        if (!http_is_vchar(*c->p))
            return HTTP_BAD;
        c->p++;
    }
    if (c->p >= c->end)
        return HTTP_MORE;
    const uint8_t *vend = c->p;
    while (vend > val && (vend[-1] == ' ' || vend[-1] == '\t'))
        vend--;
    int rc = http_eol(c);
    if (rc != HTTP_OK)
        return rc;
    if (++req->n_headers > HTTP_HEADERS_MAX) {
        req->err_status = 431;
        return HTTP_BAD;
    }
    return http_header(req, (const char *)name, nlen, (const char *)val, (size_t)(vend - val));
}

int http_req_parse(const uint8_t *buf, size_t len, struct http_req *req)
{
    memset(req, 0, sizeof(*req));
    req->err_status = 400;
    /* Look no further than the limit: a head that has not ended by then is too big. */
    size_t window = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX;
    struct http_cur c = {buf, buf + window};
    int rc;
    bool done = false;

    for (unsigned blank = 0; http_at_eol(&c); blank++) {
        if (blank == HTTP_LEADING_EOL_MAX)
            return HTTP_BAD; /* a stream of empty lines is not a request */
        if ((rc = http_eol(&c)) != HTTP_OK)
            goto fail;
    }
    if ((rc = http_request_line(&c, req)) != HTTP_OK)
        goto fail;
    while (!done) {
        if ((rc = http_header_line(&c, req, &done)) != HTTP_OK)
            goto fail;
    }
    /* RFC 9112 3.2: 400 for HTTP/1.1 without Host, and for any request with two. */
    if (req->n_host > 1 || (req->minor >= 1 && req->n_host == 0))
        return HTTP_BAD;
    if (req->minor >= 1)
        req->keep_alive = !req->conn_close;
    else
        req->keep_alive = req->conn_keep_alive && !req->conn_close;
    return (int)(c.p - buf);

fail:
    if (rc == HTTP_MORE && window == HTTP_HEAD_MAX) {
        /* Blame the part that overran: the target (414) or the fields (431). A
         * method cannot overrun (HTTP_METHOD_MAX), so a head stuck before the
         * target is garbage: 400. */
        if (req->err_status == 400 && req->method_str)
            req->err_status = req->path ? 431 : 414;
        return HTTP_BAD;
    }
    return rc;
}

static int http_b64val(uint8_t ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

ssize_t http_b64_path_decode(const char *path, size_t len, uint8_t *out, size_t cap)
{
    struct http_cur c = {(const uint8_t *)path, (const uint8_t *)path + len};
    uint32_t acc = 0;
    unsigned nacc = 0, npad = 0;
    size_t o = 0, nsym = 0;

    while (c.p < c.end) {
        uint8_t ch = *c.p++;
        if (ch == '%') {
            if (c.end - c.p < 2)
                return -1;
            int hi = der_hexval(c.p[0]), lo = der_hexval(c.p[1]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = (uint8_t)(hi << 4 | lo);
            c.p += 2;
        }
        nsym++;
        if (ch == '=') {
            npad++;
            continue;
        }
        int v = http_b64val(ch);
        if (v < 0 || npad)
            return -1; /* outside the alphabet, or data after padding */
        acc = acc << 6 | (uint32_t)v;
        if (++nacc == 4) {
            if (cap - o < 3)
                return -1;
            out[o++] = (uint8_t)(acc >> 16);
            out[o++] = (uint8_t)(acc >> 8);
            out[o++] = (uint8_t)acc;
            acc = 0;
            nacc = 0;
        }
    }
    /* A final group of 2 or 3 symbols carries 1 or 2 bytes; padding, if any, completes it. */
    if (nacc == 1 || (npad && (nacc == 0 || npad != 4 - nacc || nsym % 4 != 0)))
        return -1;
    if (nacc == 2) {
        if (cap - o < 1)
            return -1;
        out[o++] = (uint8_t)(acc >> 4);
    } else if (nacc == 3) {
        if (cap - o < 2)
            return -1;
        out[o++] = (uint8_t)(acc >> 10);
        out[o++] = (uint8_t)(acc >> 2);
    }
    return (ssize_t)o;
}

/* Two decimal digits at s, or -1. */
static int http_2digit(const char *s)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static int http_month(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int i = 0; i < 12; i++) {
        if (memcmp(s, months + 3 * i, 3) == 0)
            return i + 1;
    }
    return -1;
}

/* "HH:MM:SS" at s into seconds of the day, or -1 (a leap second 60 is accepted as 59). */
static int64_t http_hms(const char *s)
{
    int h = http_2digit(s), m = http_2digit(s + 3), sec = http_2digit(s + 6);
    if (h < 0 || m < 0 || sec < 0 || s[2] != ':' || s[5] != ':' || h > 23 || m > 59 || sec > 60)
        return -1;
    return (int64_t)h * 3600 + m * 60 + (sec == 60 ? 59 : sec);
}

/* Days since 1970-01-01 of a proleptic Gregorian date, or INT64_MIN if none such. */
static int64_t http_days(int y, int mo, int d)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap))
        return INT64_MIN;
    /* H. Hinnant's days_from_civil */
    int64_t yy = y - (mo <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool http_day_name(const char *s, size_t n, bool longform)
{
    static const char *const shortn[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static const char *const longn[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                         "Friday", "Saturday", "Sunday"};
    for (int i = 0; i < 7; i++) {
        const char *w = longform ? longn[i] : shortn[i];
        if (strlen(w) == n && memcmp(s, w, n) == 0)
            return true;
    }
    return false;
}

int http_date_parse(const char *s, size_t n, int64_t *out)
{
    int y, mo, d;
    int64_t tod;
    const char *comma = memchr(s, ',', n);
    if (comma && (size_t)(comma - s) == 3) {
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        const char *p = s + 5;
        if (n != 29 || !http_day_name(s, 3, false) || s[4] != ' ' || p[2] != ' ' || p[6] != ' ' ||
            p[11] != ' ' || p[20] != ' ' || memcmp(p + 21, "GMT", 3) != 0)
            return -1;
        int y1 = http_2digit(p + 7), y2 = http_2digit(p + 9);
        d = http_2digit(p);
        mo = http_month(p + 3);
        if (y1 < 0 || y2 < 0)
            return -1;
        y = y1 * 100 + y2;
        tod = http_hms(p + 12);
    } else if (comma) {
        /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
        size_t dn = (size_t)(comma - s);
        const char *p = comma + 2;
        if (n != dn + 24 || !http_day_name(s, dn, true) || comma[1] != ' ' || p[2] != '-' ||
            p[6] != '-' || p[9] != ' ' || p[18] != ' ' || memcmp(p + 19, "GMT", 3) != 0)
            return -1;
        d = http_2digit(p);
        mo = http_month(p + 3);
        y = http_2digit(p + 7);
        if (y < 0)
            return -1;
        y += y < 70 ? 2000 : 1900; /* RFC 9110 5.6.7: a year that looks > 50 years ahead is past */
        tod = http_hms(p + 10);
    } else {
        /* asctime: "Sun Nov  6 08:49:37 1994" */
        if (n != 24 || !http_day_name(s, 3, false) || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' ||
            s[19] != ' ')
            return -1;
        mo = http_month(s + 4);
        d = s[8] == ' ' ? http_2digit((const char[]){'0', s[9]}) : http_2digit(s + 8);
        int y1 = http_2digit(s + 20), y2 = http_2digit(s + 22);
        if (y1 < 0 || y2 < 0)
            return -1;
        y = y1 * 100 + y2;
        tod = http_hms(s + 11);
    }
    if (d < 0 || mo < 0 || tod < 0)
        return -1;
    int64_t days = http_days(y, mo, d);
    if (days == INT64_MIN)
        return -1;
    *out = days * 86400 + tod;
    return 0;
}

bool http_etag_list_match(const char *v, size_t n, const char *tag, size_t tag_len)
{
    size_t i = 0;
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    size_t e = n;
    while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t'))
        e--;
    if (e - i == 1 && v[i] == '*')
        return true;
    while (i < e) {
        /* #entity-tag: empty members and OWS around commas are allowed */
        if (v[i] == ',' || v[i] == ' ' || v[i] == '\t') {
            i++;
            continue;
        }
        if (e - i >= 2 && v[i] == 'W' && v[i + 1] == '/')
            i += 2;
        if (i >= e || v[i] != '"')
            return false;
        size_t s = ++i;
        while (i < e && v[i] != '"') {
            uint8_t ch = (uint8_t)v[i];
            if (!(ch == 0x21 || (ch >= 0x23 && ch != 0x7f))) /* etagc */
                return false;
            i++;
        }
        if (i >= e)
            return false; /* unterminated */
        if (i - s == tag_len && memcmp(v + s, tag, tag_len) == 0)
            return true;
        i++; /* closing quote */
        if (i < e && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            return false;
    }
    return false;
}

bool http_media_type_is(const char *v, size_t n, const char *type)
{
    const char *semi = memchr(v, ';', n);
    size_t e = semi ? (size_t)(semi - v) : n, i = 0;
    while (i < e && (v[i] == ' ' || v[i] == '\t'))
        i++;
    while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t'))
        e--;
    return http_ieq_n(v + i, e - i, type, strlen(type));
}
