/*
 * der — strict DER reader over struct cur and DER writer over struct derw.
 * The reader is the first code to touch untrusted request bytes: every length
 * is checked against what remains before it is used, and any failure is sticky
 * in the cursor. Time conversion is done with integer civil-date arithmetic so
 * it needs neither a time zone nor libc's timegm.
 */
#include "der.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cur_fail(struct cur *c)
{
    c->err = -1;
    c->p = c->end;
    return -1;
}

/*
 * Reads tag and length; on success *len fits in what remains after the header,
 * unless !whole (der_get_header(): the contents may continue past the cursor).
 */
static int der_header_at(struct cur *c, uint8_t *tag, size_t *len, bool whole)
{
    if (c->err || c->end - c->p < 2)
        return cur_fail(c);
    uint8_t t = c->p[0];
    uint8_t l = c->p[1];
    if ((t & 0x1f) == 0x1f) /* high tag numbers: never used by OCSP/X.509 */
        return cur_fail(c);
    const uint8_t *q = c->p + 2;
    size_t n;
    if (l < 0x80) {
        n = l;
    } else {
        size_t nb = l & 0x7f;
        /* 0x80 is BER indefinite length; more than 3 bytes exceeds DER_MAX_LEN. */
        if (nb == 0 || nb > 3 || (size_t)(c->end - q) < nb)
            return cur_fail(c);
        if (q[0] == 0) /* non-minimal: leading zero byte */
            return cur_fail(c);
        n = 0;
        for (size_t i = 0; i < nb; i++)
            n = (n << 8) | q[i];
        if (n < 0x80) /* non-minimal: fits the short form */
            return cur_fail(c);
        q += nb;
    }
    if (n > DER_MAX_LEN || (whole && (size_t)(c->end - q) < n))
        return cur_fail(c);
    *tag = t;
    *len = n;
    c->p = q;
    return 0;
}

static int der_header(struct cur *c, uint8_t *tag, size_t *len)
{
    return der_header_at(c, tag, len, true);
}

int der_get_header(struct cur *c, uint8_t tag, size_t *len)
{
    uint8_t t;
    if (der_header_at(c, &t, len, false) < 0)
        return -1;
    return t == tag ? 0 : cur_fail(c);
}

int der_get_any(struct cur *c, uint8_t *tag, struct cur *val)
{
    size_t n;
    if (der_header(c, tag, &n) < 0) {
        cur_init(val, c->end, 0);
        val->err = -1;
        return -1;
    }
    cur_init(val, c->p, n);
    c->p += n;
    return 0;
}

int der_get(struct cur *c, uint8_t tag, struct cur *val)
{
    uint8_t t;
    if (der_get_any(c, &t, val) < 0)
        return -1;
    if (t != tag) {
        val->err = -1;
        return cur_fail(c);
    }
    return 0;
}

int der_get_raw(struct cur *c, uint8_t *tag, struct cur *tlv)
{
    const uint8_t *start = c->p;
    struct cur val;
    if (der_get_any(c, tag, &val) < 0) {
        *tlv = val;
        return -1;
    }
    cur_init(tlv, start, (size_t)(c->p - start));
    return 0;
}

bool der_peek(const struct cur *c, uint8_t tag)
{
    return !c->err && c->p < c->end && c->p[0] == tag;
}

int der_get_optional(struct cur *c, uint8_t tag, struct cur *val)
{
    if (c->err)
        return -1;
    if (!der_peek(c, tag)) {
        cur_init(val, c->p, 0);
        return 0;
    }
    return der_get(c, tag, val) < 0 ? -1 : 1;
}

int der_get_integer(struct cur *c, struct cur *val)
{
    if (der_get(c, DER_INTEGER, val) < 0)
        return -1;
    size_t n = cur_left(val);
    if (n == 0)
        return cur_fail(c);
    /* DER: no redundant leading 0x00 or 0xff byte. */
    if (n > 1 &&
        ((val->p[0] == 0x00 && !(val->p[1] & 0x80)) || (val->p[0] == 0xff && (val->p[1] & 0x80))))
        return cur_fail(c);
    return 0;
}

int der_get_uint64(struct cur *c, uint64_t *out)
{
    struct cur v;
    if (der_get_integer(c, &v) < 0)
        return -1;
    size_t n = cur_left(&v);
    if (v.p[0] & 0x80) /* negative */
        return cur_fail(c);
    if (n > 9 || (n == 9 && v.p[0] != 0))
        return cur_fail(c);
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = (x << 8) | v.p[i];
    *out = x;
    return 0;
}

int der_get_enum(struct cur *c, unsigned *out)
{
    struct cur v;
    if (der_get(c, DER_ENUMERATED, &v) < 0)
        return -1;
    if (cur_left(&v) != 1 || (v.p[0] & 0x80))
        return cur_fail(c);
    *out = v.p[0];
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void der_time_civil(int64_t t, int *year, int *mon, int *day, int *hour, int *min, int *sec)
{
    int64_t days = t / 86400;
    int64_t rem = t % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    days += 719468;
    const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const unsigned doe = (unsigned)(days - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    *year = (int)((int64_t)yoe + era * 400 + (m <= 2));
    *mon = (int)m;
    *day = (int)d;
    *hour = (int)(rem / 3600);
    *min = (int)(rem / 60 % 60);
    *sec = (int)(rem % 60);
}

static int dig2(const char *s, unsigned *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    *out = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
    return 0;
}

int der_time_parse(const char *s, size_t n, int64_t *out)
{
    unsigned yy, cc = 0, mo, dd, hh, mi, ss;
    int64_t year;
    if (n == 13) {
        if (dig2(s, &yy) < 0)
            return -1;
        year = yy < 50 ? 2000 + yy : 1900 + yy; /* RFC 5280 4.1.2.5.1 */
        s += 2;
    } else if (n == 15) {
        if (dig2(s, &cc) < 0 || dig2(s + 2, &yy) < 0)
            return -1;
        year = cc * 100 + yy;
        s += 4;
    } else {
        return -1;
    }
    if (dig2(s, &mo) < 0 || dig2(s + 2, &dd) < 0 || dig2(s + 4, &hh) < 0 || dig2(s + 6, &mi) < 0 ||
        dig2(s + 8, &ss) < 0 || s[10] != 'Z')
        return -1;
    static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || dd < 1 || dd > mdays[mo - 1] || hh > 23 || mi > 59 || ss > 59)
        return -1;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mo == 2 && dd == 29 && !leap)
        return -1;
    *out = days_from_civil(year, mo, dd) * 86400 + hh * 3600 + mi * 60 + ss;
    return 0;
}

int der_get_time(struct cur *c, int64_t *out)
{
    uint8_t tag;
    struct cur v;
    if (der_get_any(c, &tag, &v) < 0)
        return -1;
    size_t n = cur_left(&v);
    if ((tag == DER_UTCTIME && n != 13) || (tag == DER_GENTIME && n != 15) ||
        (tag != DER_UTCTIME && tag != DER_GENTIME))
        return cur_fail(c);
    if (der_time_parse((const char *)v.p, n, out) < 0)
        return cur_fail(c);
    return 0;
}

static void put2(char *o, int v)
{
    o[0] = (char)('0' + v / 10 % 10);
    o[1] = (char)('0' + v % 10);
}

void der_time_format_gen(int64_t t, char out[15])
{
    int y, mo, d, h, mi, s;
    der_time_civil(t, &y, &mo, &d, &h, &mi, &s);
    put2(out, y / 100);
    put2(out + 2, y % 100);
    put2(out + 4, mo);
    put2(out + 6, d);
    put2(out + 8, h);
    put2(out + 10, mi);
    put2(out + 12, s);
    out[14] = 'Z';
}

void der_time_format_utc(int64_t t, char out[13])
{
    char g[15];
    der_time_format_gen(t, g);
    memcpy(out, g + 2, 13);
}

int der_serial_check(const uint8_t *p, size_t n)
{
    if (n == 0 || n > DER_SERIAL_MAX)
        return -1;
    if (n > 1 && ((p[0] == 0x00 && !(p[1] & 0x80)) || (p[0] == 0xff && (p[1] & 0x80))))
        return -1;
    return 0;
}

/* Hex digit values + 1 (so that the zero default means "not a hex digit"): one
 * load per digit, for der_hexval(); a serial parse is a measurable part of the
 * indexer re-reading a 1M-line database. */
const int8_t der_hex_digit[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

int der_serial_from_hex(const char *hex, size_t n, bool negative, uint8_t out[DER_SERIAL_MAX],
                        size_t *out_len)
{
    size_t i = 0;
    if (n == 0)
        return -1;
    for (size_t k = 0; k < n; k++) {
        if (der_hexval((uint8_t)hex[k]) < 0)
            return -1;
    }
    while (i < n && hex[i] == '0')
        i++;
    size_t digits = n - i;
    if (digits == 0) {
        out[0] = 0x00;
        *out_len = 1;
        return 0;
    }
    /* Magnitude first, right-aligned in a scratch buffer one byte wider than out[]. */
    uint8_t mag[DER_SERIAL_MAX + 1];
    size_t m = (digits + 1) / 2;
    if (m > DER_SERIAL_MAX)
        return -1;
    size_t o = 0;
    if (digits % 2)
        mag[o++] = (uint8_t)der_hexval((uint8_t)hex[i++]);
    for (; i < n; i += 2)
        mag[o++] = (uint8_t)(der_hexval((uint8_t)hex[i]) << 4 | der_hexval((uint8_t)hex[i + 1]));
    uint8_t enc[DER_SERIAL_MAX + 2];
    size_t len;
    if (!negative) {
        bool pad = mag[0] & 0x80; /* a 0x00 in front keeps a set top bit positive */
        enc[0] = 0x00;
        memcpy(enc + pad, mag, m);
        len = m + pad;
    } else {
        /* -x = ~x + 1 over m bytes, with one more 0xff byte of sign, then minimised. */
        unsigned carry = 1;
        for (size_t k = m; k-- > 0;) {
            unsigned v = (uint8_t)~mag[k] + carry;
            enc[k + 1] = (uint8_t)v;
            carry = v >> 8;
        }
        enc[0] = 0xff;
        size_t skip = 0;
        while (skip + 1 < m + 1 && enc[skip] == 0xff && (enc[skip + 1] & 0x80))
            skip++;
        memmove(enc, enc + skip, m + 1 - skip);
        len = m + 1 - skip;
    }
    if (len > DER_SERIAL_MAX)
        return -1;
    memcpy(out, enc, len);
    *out_len = len;
    /* The store's one definition of a valid serial; ours always passes it. */
    return der_serial_check(out, len);
}

/* ---- writer ---- */

void derw_init_fixed(struct derw *w, uint8_t *buf, size_t cap)
{
    memset(w, 0, sizeof(*w));
    w->buf = buf;
    w->cap = cap;
}

int derw_init_alloc(struct derw *w, size_t initial)
{
    memset(w, 0, sizeof(*w));
    if (initial < 64)
        initial = 64;
    w->buf = malloc(initial);
    if (!w->buf)
        return -ENOMEM;
    w->cap = initial;
    w->grow = true;
    return 0;
}

void derw_free(struct derw *w)
{
    if (w->grow)
        free(w->buf);
    w->buf = NULL;
    w->cap = w->len = 0;
}

void derw_reset(struct derw *w)
{
    w->len = 0;
    w->err = 0;
    w->depth = 0;
}

/* Makes room for n more bytes; returns a pointer to them or NULL (sticky error). */
static uint8_t *derw_room(struct derw *w, size_t n)
{
    if (w->err)
        return NULL;
    if (n > w->cap - w->len) {
        if (!w->grow) {
            w->err = -ENOSPC;
            return NULL;
        }
        size_t cap = w->cap;
        while (n > cap - w->len) {
            if (cap > SIZE_MAX / 2) {
                w->err = -ENOMEM;
                return NULL;
            }
            cap *= 2;
        }
        uint8_t *nb = realloc(w->buf, cap);
        if (!nb) {
            w->err = -ENOMEM;
            return NULL;
        }
        w->buf = nb;
        w->cap = cap;
    }
    uint8_t *p = w->buf + w->len;
    w->len += n;
    return p;
}

void derw_raw(struct derw *w, const void *p, size_t n)
{
    uint8_t *d = derw_room(w, n);
    if (d && n)
        memcpy(d, p, n);
}

/* Encodes a length; returns the number of bytes (1..5). */
static size_t der_len_encode(size_t n, uint8_t out[5])
{
    if (n < 0x80) {
        out[0] = (uint8_t)n;
        return 1;
    }
    size_t nb = 0;
    for (size_t x = n; x; x >>= 8)
        nb++;
    out[0] = (uint8_t)(0x80 | nb);
    for (size_t i = 0; i < nb; i++)
        out[1 + i] = (uint8_t)(n >> (8 * (nb - 1 - i)));
    return 1 + nb;
}

void derw_header(struct derw *w, uint8_t tag, size_t n)
{
    uint8_t hdr[6];
    hdr[0] = tag;
    derw_raw(w, hdr, 1 + der_len_encode(n, hdr + 1));
}

size_t der_tlv_size(size_t n)
{
    uint8_t lenb[5];
    return 1 + der_len_encode(n, lenb) + n;
}

void derw_tlv(struct derw *w, uint8_t tag, const void *p, size_t n)
{
    uint8_t hdr[6];
    hdr[0] = tag;
    size_t hl = 1 + der_len_encode(n, hdr + 1);
    derw_raw(w, hdr, hl);
    derw_raw(w, p, n);
}

/* An open value reserves 1 tag byte + 5 length bytes; derw_close() shrinks it. */
#define DERW_OPEN_RESERVE 6

void derw_open(struct derw *w, uint8_t tag)
{
    if (w->err)
        return;
    if (w->depth >= DER_MAX_DEPTH) {
        w->err = -E2BIG;
        return;
    }
    size_t at = w->len;
    uint8_t *d = derw_room(w, DERW_OPEN_RESERVE);
    if (!d)
        return;
    d[0] = tag;
    w->open_at[w->depth++] = at;
}

void derw_close(struct derw *w)
{
    if (w->err)
        return;
    if (w->depth == 0) {
        w->err = -EINVAL;
        return;
    }
    size_t at = w->open_at[--w->depth];
    size_t body = at + DERW_OPEN_RESERVE;
    size_t n = w->len - body;
    uint8_t lenb[5];
    size_t ll = der_len_encode(n, lenb);
    memcpy(w->buf + at + 1, lenb, ll);
    if (1 + ll < DERW_OPEN_RESERVE) {
        memmove(w->buf + at + 1 + ll, w->buf + body, n);
        w->len -= DERW_OPEN_RESERVE - 1 - ll;
    }
}

void derw_uint_be(struct derw *w, const uint8_t *mag, size_t n)
{
    while (n > 1 && mag[0] == 0) {
        mag++;
        n--;
    }
    if (n == 0) {
        uint8_t z = 0;
        derw_tlv(w, DER_INTEGER, &z, 1);
        return;
    }
    if (mag[0] & 0x80) {
        uint8_t hdr[7];
        hdr[0] = DER_INTEGER;
        size_t hl = 1 + der_len_encode(n + 1, hdr + 1);
        hdr[hl++] = 0;
        derw_raw(w, hdr, hl);
        derw_raw(w, mag, n);
        return;
    }
    derw_tlv(w, DER_INTEGER, mag, n);
}

void derw_integer_raw(struct derw *w, const uint8_t *content, size_t n)
{
    derw_tlv(w, DER_INTEGER, content, n);
}

void derw_uint64(struct derw *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (56 - 8 * i));
    derw_uint_be(w, b, 8);
}

void derw_enum(struct derw *w, unsigned v)
{
    uint8_t b = (uint8_t)v; /* callers only write CRLReason / response status (< 128) */
    derw_tlv(w, DER_ENUMERATED, &b, 1);
}

void derw_null(struct derw *w)
{
    derw_tlv(w, DER_NULL, NULL, 0);
}

void derw_bool(struct derw *w, bool v)
{
    uint8_t b = v ? 0xff : 0x00;
    derw_tlv(w, DER_BOOLEAN, &b, 1);
}

void derw_gentime(struct derw *w, int64_t t)
{
    char s[15];
    der_time_format_gen(t, s);
    derw_tlv(w, DER_GENTIME, s, sizeof(s));
}

void derw_time(struct derw *w, int64_t t)
{
    /* 2050-01-01T00:00:00Z: RFC 5280 switches to GeneralizedTime from then on. */
    if (t >= 2524608000LL || t < -631152000LL) {
        derw_gentime(w, t);
        return;
    }
    char s[13];
    der_time_format_utc(t, s);
    derw_tlv(w, DER_UTCTIME, s, sizeof(s));
}

void derw_oid(struct derw *w, const uint8_t *enc, size_t n)
{
    derw_tlv(w, DER_OID, enc, n);
}

void derw_bitstring(struct derw *w, const void *p, size_t n)
{
    uint8_t hdr[7];
    hdr[0] = DER_BIT_STRING;
    size_t hl = 1 + der_len_encode(n + 1, hdr + 1);
    hdr[hl++] = 0; /* unused bits */
    derw_raw(w, hdr, hl);
    derw_raw(w, p, n);
}
