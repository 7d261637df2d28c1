/*
 * der — strict DER reading through a length-checked cursor, and DER writing into
 * a caller-owned (optionally growable) buffer. Everything revokd parses from the
 * network or builds for the wire goes through here.
 *
 * Reading: a `struct cur` spans [p, end). Every read checks the remaining length
 * first and never forms a pointer past `end`. Errors are sticky: once a read
 * fails, `cur.err` is set and every later read on that cursor fails, so a caller
 * walks a whole structure and checks `cur.err` once at the end. Only DER is
 * accepted: single-byte tags, definite lengths in minimal form, no length over
 * DER_MAX_LEN. Nothing is copied; sub-cursors point into the input.
 *
 * Writing: `struct derw` appends TLVs. Constructed values are opened with
 * derw_open() and closed with derw_close(), which patches the length (moving the
 * contents if the length needed fewer bytes than reserved). Overflow of a fixed
 * buffer (or a failed grow) is sticky in `derw.err`; check once at the end.
 */
#ifndef REVOKD_DER_H
#define REVOKD_DER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Universal tags revokd reads or writes. */
enum {
    DER_BOOLEAN = 0x01,
    DER_INTEGER = 0x02,
    DER_BIT_STRING = 0x03,
    DER_OCTET_STRING = 0x04,
    DER_NULL = 0x05,
    DER_OID = 0x06,
    DER_ENUMERATED = 0x0a,
    DER_UTCTIME = 0x17,
    DER_GENTIME = 0x18,
    DER_SEQUENCE = 0x30,
    DER_SET = 0x31,
};
/* Context-specific tags: DER_CTX(n) primitive, DER_CTX_CONS(n) constructed. */
#define DER_CTX(n)      ((uint8_t)(0x80 | (n)))
#define DER_CTX_CONS(n) ((uint8_t)(0xa0 | (n)))

/* Largest length the reader accepts (16 MiB): far above any OCSP request. */
#define DER_MAX_LEN ((size_t)1 << 24)
/* Deepest nesting derw_open() supports. */
#define DER_MAX_DEPTH 16

struct cur {
    const uint8_t *p, *end;
    int err; /* sticky: non-zero once any read failed */
};

static inline void cur_init(struct cur *c, const void *p, size_t n)
{
    c->p = (const uint8_t *)p;
    c->end = c->p + n;
    c->err = 0;
}

static inline size_t cur_left(const struct cur *c)
{
    return c->err ? 0 : (size_t)(c->end - c->p);
}

/* True when the cursor has no error and no bytes left. */
static inline bool cur_done(const struct cur *c)
{
    return !c->err && c->p == c->end;
}

/* Marks the cursor failed; always returns -1 so parsers can `return cur_fail(c)`. */
int cur_fail(struct cur *c);

/*
 * Reads one TLV whose tag must be `tag`; *val spans its contents. Returns 0, or -1
 * (and sets c->err) on a wrong tag, a truncated or non-minimal length, or a length
 * past the end.
 */
int der_get(struct cur *c, uint8_t tag, struct cur *val);

/* Reads one TLV of any single-byte tag. */
int der_get_any(struct cur *c, uint8_t *tag, struct cur *val);

/* Reads one TLV of any tag and returns it whole (tag and length included) in *tlv. */
int der_get_raw(struct cur *c, uint8_t *tag, struct cur *tlv);

/*
 * Reads only the tag and length of a value whose contents may go on past the
 * cursor's end (bytes kept elsewhere, e.g. a stored response without its signer
 * block): the cursor then points at the contents and *len is their declared
 * length, which the caller must check against what it holds. Returns 0, or -1
 * (and sets c->err) on a wrong tag or a truncated or non-minimal header.
 */
int der_get_header(struct cur *c, uint8_t tag, size_t *len);

/* True if the next byte is `tag` (false on an empty or failed cursor). */
bool der_peek(const struct cur *c, uint8_t tag);

/*
 * Reads an OPTIONAL element: if the next tag is `tag`, reads it into *val and
 * returns 1; if the cursor is empty or holds another tag, returns 0; -1 on error.
 */
int der_get_optional(struct cur *c, uint8_t tag, struct cur *val);

/*
 * Reads an INTEGER and checks its encoding is minimal (DER). *val spans the
 * two's-complement content bytes (at least one).
 */
int der_get_integer(struct cur *c, struct cur *val);

/* Reads a non-negative INTEGER that fits in 64 bits. */
int der_get_uint64(struct cur *c, uint64_t *out);

/* Reads an ENUMERATED of one content byte (0..127), as OCSP and CRL reasons use. */
int der_get_enum(struct cur *c, unsigned *out);

/* Reads a UTCTime or GeneralizedTime ("Z" form, no fractions) as Unix seconds. */
int der_get_time(struct cur *c, int64_t *out);

/*
 * Parses "YYMMDDHHMMSSZ" (13 bytes, UTCTime, RFC 5280 50-year window) or
 * "YYYYMMDDHHMMSSZ" (15 bytes, GeneralizedTime) into Unix seconds. Fields are
 * range-checked (month 1-12, day within the month, hour < 24, ...).
 * Returns 0 or -1. Used for DER times and OpenSSL's index.txt dates alike.
 */
int der_time_parse(const char *s, size_t n, int64_t *out);

/* Formats Unix seconds as GeneralizedTime "YYYYMMDDHHMMSSZ" (15 bytes, no NUL). */
void der_time_format_gen(int64_t t, char out[15]);

/* Formats Unix seconds as UTCTime "YYMMDDHHMMSSZ" (13 bytes, no NUL); years 1950-2049. */
void der_time_format_utc(int64_t t, char out[13]);

/* Breaks Unix seconds into civil UTC fields (proleptic Gregorian; no libc time zone). */
void der_time_civil(int64_t t, int *year, int *mon, int *day, int *hour, int *min, int *sec);

/*
 * Value of one hex digit (either case), or -1 for anything else: for the text
 * forms around DER (a serial, a crlnumber file, a percent-escape in a GET path).
 * Inline and one table load, because the GET decoder and the 1M-line index.txt
 * reader run it per digit.
 */
extern const int8_t der_hex_digit[256]; /* value + 1; 0 = not a hex digit */
static inline int der_hexval(uint8_t ch)
{
    return der_hex_digit[ch] - 1;
}

/*
 * Converts a serial number's INTEGER content (as read from DER) to the store's
 * canonical form: the same bytes. Provided so every module agrees on one check:
 * 1..DER_SERIAL_MAX bytes, minimal encoding. Returns 0 or -1.
 */
#define DER_SERIAL_MAX 32
int der_serial_check(const uint8_t *p, size_t n);

/*
 * A serial written as hex digits (either case; no sign, no "0x") -> its INTEGER
 * content, the magnitude negated when `negative`: the bytes the certificate
 * carries and the store keys on, so index.txt, the command line and the status
 * API name a certificate the same way. Leading zero digits are dropped (0A and A
 * are one serial), an odd digit count is padded, zero of either sign is one 0x00
 * byte. Returns 0, or -1 for no digits, a non-hex character, or a value over
 * DER_SERIAL_MAX bytes.
 */
int der_serial_from_hex(const char *hex, size_t n, bool negative, uint8_t out[DER_SERIAL_MAX],
                        size_t *out_len);

/* ---- writer ---- */

struct derw {
    uint8_t *buf;
    size_t len, cap;
    int err;   /* sticky: -ENOSPC or -ENOMEM */
    bool grow; /* buf is malloc'd and may be realloc'd */
    unsigned depth;
    size_t open_at[DER_MAX_DEPTH]; /* offset of each open value's tag */
};

/* Writes into a fixed caller buffer; never allocates. */
void derw_init_fixed(struct derw *w, uint8_t *buf, size_t cap);
/* Writes into a malloc'd buffer that grows; free with derw_free(). */
int derw_init_alloc(struct derw *w, size_t initial);
void derw_free(struct derw *w);
/* Forgets the contents but keeps the buffer. */
void derw_reset(struct derw *w);

void derw_raw(struct derw *w, const void *p, size_t n);
/* Appends a complete TLV with the given contents. */
void derw_tlv(struct derw *w, uint8_t tag, const void *p, size_t n);
/* Appends only a tag and the length n; the n bytes of contents follow. For a
 * value whose length is known before its contents are written: unlike
 * derw_open()/derw_close(), nothing is moved afterwards. */
void derw_header(struct derw *w, uint8_t tag, size_t n);
/* The size of a whole TLV with n bytes of contents (one tag byte). */
size_t der_tlv_size(size_t n);
/* Starts a constructed value; contents follow; derw_close() sets its length. */
void derw_open(struct derw *w, uint8_t tag);
void derw_close(struct derw *w);
/* INTEGER from an unsigned big-endian magnitude (leading zeros stripped, 0x00 added if needed). */
void derw_uint_be(struct derw *w, const uint8_t *mag, size_t n);
/* INTEGER whose content bytes are already DER (a serial number as stored). */
void derw_integer_raw(struct derw *w, const uint8_t *content, size_t n);
void derw_uint64(struct derw *w, uint64_t v);
void derw_enum(struct derw *w, unsigned v);
void derw_null(struct derw *w);
void derw_bool(struct derw *w, bool v);
/* GeneralizedTime, always (OCSP uses it for every time). */
void derw_gentime(struct derw *w, int64_t t);
/* RFC 5280 Time: UTCTime through 2049, GeneralizedTime from 2050. */
void derw_time(struct derw *w, int64_t t);
/* OID from its encoded content bytes (see the DER_OID_* constants in ocsp.h). */
void derw_oid(struct derw *w, const uint8_t *enc, size_t n);
/* BIT STRING with zero unused bits. */
void derw_bitstring(struct derw *w, const void *p, size_t n);

#endif
