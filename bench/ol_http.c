/*
 * ol_http — HTTP/1.x response heads for ocspload (see ol_http.h). The head is
 * walked line by line with explicit lengths; header names compare
 * case-insensitively, values are trimmed of optional whitespace. Only the
 * fields the load loop acts on are interpreted; others are skipped after a
 * syntax check.
 */
#include "ol_http.h"

#include <string.h>

size_t ol_http_head_end(const uint8_t *buf, size_t len, size_t *scan)
{
    size_t i = *scan;
    while (i + 4 <= len) {
        const uint8_t *cr = memchr(buf + i, '\r', len - i - 3);
        if (!cr)
            break;
        i = (size_t)(cr - buf);
        if (buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
            *scan = 0;
            return i + 4;
        }
        i++;
    }
    /* resume three bytes back: the terminator may straddle the next read */
    *scan = len >= 3 ? len - 3 : 0;
    return 0;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Case-insensitive equality of s[0..n) and the NUL-terminated lower-case lit. */
static bool ieq(const uint8_t *s, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != lit[i])
            return false;
    return true;
}

static bool is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Applies a Connection value: a comma-separated list of tokens. */
static void connection_tokens(const uint8_t *v, size_t n, bool *close, bool *keep)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (ieq(v + s, i - s, "close"))
            *close = true;
        else if (ieq(v + s, i - s, "keep-alive"))
            *keep = true;
    }
}

/* Content-Length: 1*DIGIT, bounded. Returns 0 or -1. */
static int parse_length(const uint8_t *v, size_t n, uint64_t *out)
{
    if (n == 0 || n > 13)
        return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (x > OL_HTTP_MAX_BODY)
        return -1;
    *out = x;
    return 0;
}

int ol_http_parse_head(const uint8_t *buf, size_t head_len, struct ol_http_resp *r)
{
    memset(r, 0, sizeof(*r));
    if (head_len < 4)
        return -1;
    size_t end = head_len - 2; /* the final CRLF of the empty line */

    /* status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF */
    const uint8_t *lf = memchr(buf, '\n', end);
    if (!lf || lf == buf || lf[-1] != '\r')
        return -1;
    size_t ll = (size_t)(lf - buf) - 1;
    if (ll < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[7] < '0' || buf[7] > '9' || buf[8] != ' ')
        return -1;
    r->minor = buf[7] - '0';
    for (size_t i = 9; i < 12; i++)
        if (buf[i] < '0' || buf[i] > '9')
            return -1;
    if (ll > 12 && buf[12] != ' ')
        return -1;
    r->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    if (r->status < 100)
        return -1;

    bool conn_close = false, conn_keep = false, chunked = false, dup_len_bad = false;
    size_t pos = (size_t)(lf - buf) + 1;
    while (pos < end) {
        const uint8_t *nl = memchr(buf + pos, '\n', end - pos);
        if (!nl)
            return -1;
        size_t le = (size_t)(nl - buf);
        if (le == pos || buf[le - 1] != '\r')
            return -1;
        size_t line_end = le - 1; /* the CR */
        size_t c = pos;
        while (c < line_end && is_tchar(buf[c]))
            c++;
        if (c == pos || c >= line_end || buf[c] != ':')
            return -1; /* empty name, no colon, or space before the colon */
        const uint8_t *name = buf + pos;
        size_t nlen = c - pos;
        size_t vs = c + 1, ve = line_end;
        while (vs < ve && (buf[vs] == ' ' || buf[vs] == '\t'))
            vs++;
        while (ve > vs && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t'))
            ve--;
        for (size_t i = vs; i < ve; i++)
            if ((buf[i] < 0x20 && buf[i] != '\t') || buf[i] == 0x7f)
                return -1;
        const uint8_t *val = buf + vs;
        size_t vlen = ve - vs;
        if (ieq(name, nlen, "content-length")) {
            uint64_t x;
            if (parse_length(val, vlen, &x) != 0)
                return -1;
            if (r->has_length && x != r->content_length)
                dup_len_bad = true;
            r->has_length = true;
            r->content_length = x;
        } else if (ieq(name, nlen, "connection")) {
            connection_tokens(val, vlen, &conn_close, &conn_keep);
        } else if (ieq(name, nlen, "transfer-encoding")) {
            chunked = true; /* any transfer coding: not supported here */
        } else if (ieq(name, nlen, "content-type")) {
            static const char ct[] = "application/ocsp-response";
            size_t tl = vlen;
            const uint8_t *semi = memchr(val, ';', vlen);
            if (semi)
                tl = (size_t)(semi - val);
            while (tl > 0 && (val[tl - 1] == ' ' || val[tl - 1] == '\t'))
                tl--;
            r->ctype_ocsp = ieq(val, tl, ct);
        }
        pos = le + 1;
    }
    if (dup_len_bad || chunked)
        return -1;

    bool no_body = (r->status >= 100 && r->status < 200) || r->status == 204 || r->status == 304;
    if (no_body) {
        r->content_length = 0;
    } else if (!r->has_length) {
        return -1; /* read-until-close bodies are not supported */
    }
    if (r->minor == 0)
        r->close = !conn_keep || conn_close;
    else
        r->close = conn_close;
    return 0;
}
