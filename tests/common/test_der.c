/*
 * Tests for common/der: the strict reader rejects every non-DER length form and
 * truncation, the writer's lengths are right across the short/long form
 * boundaries (read back by our reader and by OpenSSL), and time conversion
 * agrees with known instants and rejects impossible dates.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <openssl/asn1.h>

#include "der.h"

Test(der, reads_nested_sequence)
{
    static const uint8_t in[] = {0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xaa};
    struct cur c, seq, i, o;
    cur_init(&c, in, sizeof(in));
    cr_assert_eq(der_get(&c, DER_SEQUENCE, &seq), 0);
    cr_assert_eq(der_get_integer(&seq, &i), 0);
    cr_assert_eq(der_get(&seq, DER_OCTET_STRING, &o), 0);
    cr_assert(cur_done(&seq));
    cr_assert(cur_done(&c));
    cr_assert_eq(i.p[0], 5);
    cr_assert_eq(o.p[0], 0xaa);
}

Test(der, rejects_non_der_lengths)
{
    static const uint8_t indefinite[] = {0x30, 0x80, 0x02, 0x01, 0x00, 0x00, 0x00};
    static const uint8_t long_form_short_value[] = {0x04, 0x81, 0x01, 0xaa};
    static const uint8_t leading_zero_len[] = {0x04, 0x82, 0x00, 0x81, 0xaa};
    static const uint8_t past_end[] = {0x04, 0x05, 0xaa};
    static const uint8_t five_len_bytes[] = {0x04, 0x84, 0x01, 0x00, 0x00, 0x00};
    static const uint8_t high_tag[] = {0x1f, 0x01, 0x00};
    const struct {
        const uint8_t *p;
        size_t n;
    } bad[] = {{indefinite, sizeof(indefinite)},
               {long_form_short_value, sizeof(long_form_short_value)},
               {leading_zero_len, sizeof(leading_zero_len)},
               {past_end, sizeof(past_end)},
               {five_len_bytes, sizeof(five_len_bytes)},
               {high_tag, sizeof(high_tag)}};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        struct cur c, v;
        uint8_t tag;
        cur_init(&c, bad[k].p, bad[k].n);
        cr_assert_eq(der_get_any(&c, &tag, &v), -1, "case %zu accepted", k);
        cr_assert(c.err, "case %zu: error not sticky", k);
        cr_assert_eq(cur_left(&c), 0);
    }
}

Test(der, error_is_sticky)
{
    static const uint8_t in[] = {0x02, 0x01, 0x05, 0x02, 0x01, 0x06};
    struct cur c, v;
    cur_init(&c, in, sizeof(in));
    cr_assert_eq(der_get(&c, DER_OCTET_STRING, &v), -1); /* wrong tag */
    cr_assert_eq(der_get(&c, DER_INTEGER, &v), -1);      /* still failed */
    cr_assert(!cur_done(&c));
}

Test(der, integer_minimality)
{
    static const uint8_t ok1[] = {0x02, 0x02, 0x00, 0x80};
    static const uint8_t ok2[] = {0x02, 0x02, 0xff, 0x7f};
    static const uint8_t bad1[] = {0x02, 0x02, 0x00, 0x7f};
    static const uint8_t bad2[] = {0x02, 0x02, 0xff, 0x80};
    static const uint8_t empty[] = {0x02, 0x00};
    struct cur c, v;
    cur_init(&c, ok1, sizeof(ok1));
    cr_assert_eq(der_get_integer(&c, &v), 0);
    cur_init(&c, ok2, sizeof(ok2));
    cr_assert_eq(der_get_integer(&c, &v), 0);
    cur_init(&c, bad1, sizeof(bad1));
    cr_assert_eq(der_get_integer(&c, &v), -1);
    cur_init(&c, bad2, sizeof(bad2));
    cr_assert_eq(der_get_integer(&c, &v), -1);
    cur_init(&c, empty, sizeof(empty));
    cr_assert_eq(der_get_integer(&c, &v), -1);
}

Test(der, uint64_bounds)
{
    static const uint8_t max[] = {0x02, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t neg[] = {0x02, 0x01, 0x80};
    uint64_t x;
    struct cur c;
    cur_init(&c, max, sizeof(max));
    cr_assert_eq(der_get_uint64(&c, &x), 0);
    cr_assert_eq(x, UINT64_MAX);
    cur_init(&c, neg, sizeof(neg));
    cr_assert_eq(der_get_uint64(&c, &x), -1);
}

Test(der, optional_present_and_absent)
{
    static const uint8_t in[] = {0xa0, 0x01, 0x05, 0x02, 0x01, 0x01};
    struct cur c, v;
    cur_init(&c, in, sizeof(in));
    cr_assert_eq(der_get_optional(&c, DER_CTX_CONS(0), &v), 1);
    cr_assert_eq(der_get_optional(&c, DER_CTX_CONS(1), &v), 0);
    cr_assert_eq(der_get_integer(&c, &v), 0);
    cr_assert(cur_done(&c));
}

Test(der, time_parse_known_instants)
{
    int64_t t;
    cr_assert_eq(der_time_parse("700101000000Z", 13, &t), 0);
    cr_assert_eq(t, 0);
    cr_assert_eq(der_time_parse("20261123091026Z", 15, &t), 0);
    cr_assert_eq(t, 1795425026);
    cr_assert_eq(der_time_parse("261123091026Z", 13, &t), 0);
    cr_assert_eq(t, 1795425026);
    cr_assert_eq(der_time_parse("491231235959Z", 13, &t), 0);
    cr_assert_eq(t, 2524607999);
    cr_assert_eq(der_time_parse("500101000000Z", 13, &t), 0); /* 1950 */
    cr_assert_eq(t, -631152000);
    cr_assert_eq(der_time_parse("20240229120000Z", 15, &t), 0);
    cr_assert_eq(der_time_parse("20000229000000Z", 15, &t), 0);
}

Test(der, time_parse_rejects_impossible)
{
    const char *bad[] = {"20230229000000Z", "19000229000000Z", "20261301000000Z", "20261100000000Z",
                         "20261131000000Z", "20261123240000Z", "20261123236000Z", "20261123235960Z",
                         "2026112323595Z",  "20261123235959",  "2026112323595aZ", "261123091026+"};
    int64_t t;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(der_time_parse(bad[i], strlen(bad[i]), &t), -1, "%s accepted", bad[i]);
}

Test(der, time_format_round_trip)
{
    const int64_t samples[] = {0, 951782400, 1795425026, 2524607999, 2524608000, 4102444800};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char g[15];
        int64_t back;
        der_time_format_gen(samples[i], g);
        cr_assert_eq(der_time_parse(g, 15, &back), 0);
        cr_assert_eq(back, samples[i], "%.15s", g);
    }
    char u[13];
    der_time_format_utc(1795425026, u);
    cr_assert_eq(memcmp(u, "261123091026Z", 13), 0);
}

/* Writes nested values of many sizes; our reader and OpenSSL must both agree. */
Test(der, writer_lengths_across_boundaries)
{
    const size_t sizes[] = {0, 1, 126, 127, 128, 129, 255, 256, 257, 65535, 65536, 70000};
    static uint8_t payload[70000];
    memset(payload, 0x5a, sizeof(payload));
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct derw w;
        cr_assert_eq(derw_init_alloc(&w, 16), 0);
        derw_open(&w, DER_SEQUENCE);
        derw_open(&w, DER_SEQUENCE);
        derw_tlv(&w, DER_OCTET_STRING, payload, sizes[k]);
        derw_close(&w);
        derw_uint64(&w, 0x80);
        derw_close(&w);
        cr_assert_eq(w.err, 0);

        struct cur c, outer, inner, os;
        uint64_t x;
        cur_init(&c, w.buf, w.len);
        der_get(&c, DER_SEQUENCE, &outer);
        der_get(&outer, DER_SEQUENCE, &inner);
        der_get(&inner, DER_OCTET_STRING, &os);
        der_get_uint64(&outer, &x);
        cr_assert(cur_done(&c) && cur_done(&outer) && cur_done(&inner), "size %zu", sizes[k]);
        cr_assert_eq(cur_left(&os), sizes[k]);
        cr_assert_eq(x, 0x80);

        const unsigned char *p = w.buf;
        ASN1_TYPE *t = d2i_ASN1_TYPE(NULL, &p, (long)w.len);
        cr_assert_not_null(t, "OpenSSL rejects our DER at size %zu", sizes[k]);
        cr_assert_eq((size_t)(p - w.buf), w.len);
        ASN1_TYPE_free(t);
        derw_free(&w);
    }
}

/* derw_header() + contents must be the bytes derw_open()/derw_close() write, and
 * der_tlv_size() their size, at every length-of-length boundary. */
Test(der, header_matches_open_close)
{
    const size_t sizes[] = {0, 1, 127, 128, 255, 256, 65535, 65536, 70000};
    static uint8_t payload[70000];
    memset(payload, 0xa5, sizeof(payload));
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct derw a, b;
        cr_assert_eq(derw_init_alloc(&a, 16), 0);
        cr_assert_eq(derw_init_alloc(&b, 16), 0);
        derw_open(&a, DER_SEQUENCE);
        derw_raw(&a, payload, sizes[k]);
        derw_close(&a);
        derw_header(&b, DER_SEQUENCE, sizes[k]);
        derw_raw(&b, payload, sizes[k]);
        cr_assert(a.err == 0 && b.err == 0);
        cr_assert_eq(a.len, b.len, "size %zu", sizes[k]);
        cr_assert_eq(memcmp(a.buf, b.buf, a.len), 0, "size %zu", sizes[k]);
        cr_assert_eq(der_tlv_size(sizes[k]), a.len, "size %zu", sizes[k]);
        derw_free(&a);
        derw_free(&b);
    }
}

Test(der, fixed_writer_overflow_is_sticky)
{
    uint8_t buf[8];
    struct derw w;
    derw_init_fixed(&w, buf, sizeof(buf));
    derw_open(&w, DER_SEQUENCE);
    derw_tlv(&w, DER_OCTET_STRING, "abcdefgh", 8);
    derw_close(&w);
    cr_assert_eq(w.err, -ENOSPC);
}

Test(der, uint_be_adds_sign_byte)
{
    uint8_t buf[16];
    struct derw w;
    static const uint8_t mag[] = {0x00, 0x00, 0x80, 0x01};
    derw_init_fixed(&w, buf, sizeof(buf));
    derw_uint_be(&w, mag, sizeof(mag));
    static const uint8_t want[] = {0x02, 0x03, 0x00, 0x80, 0x01};
    cr_assert_eq(w.len, sizeof(want));
    cr_assert_eq(memcmp(buf, want, sizeof(want)), 0);
}

Test(der, serial_check)
{
    static const uint8_t ok[] = {0x00, 0x80};
    static const uint8_t padded[] = {0x00, 0x7f};
    uint8_t big[DER_SERIAL_MAX + 1];
    memset(big, 0x11, sizeof(big));
    cr_assert_eq(der_serial_check(ok, 2), 0);
    cr_assert_eq(der_serial_check(padded, 2), -1);
    cr_assert_eq(der_serial_check(big, sizeof(big)), -1);
    cr_assert_eq(der_serial_check(big, 0), -1);
}

/* The one text -> INTEGER rule the indexer (cadb) and the status API share. */
Test(der, serial_from_hex)
{
    static const struct {
        const char *hex;
        bool neg;
        int rc;
        size_t len;
        uint8_t bytes[3];
    } cases[] = {
        {"0A", false, 0, 1, {0x0a}},       {"000a", false, 0, 1, {0x0a}},
        {"80", false, 0, 2, {0x00, 0x80}}, {"123", false, 0, 2, {0x01, 0x23}},
        {"0", false, 0, 1, {0x00}},        {"00", true, 0, 1, {0x00}},
        {"80", true, 0, 1, {0x80}},        {"81", true, 0, 2, {0xff, 0x7f}},
        {"", false, -1, 0, {0}},           {"-1", false, -1, 0, {0}},
        {"0x1", false, -1, 0, {0}},        {"1g", false, -1, 0, {0}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t out[DER_SERIAL_MAX];
        size_t len = 0;
        int rc = der_serial_from_hex(cases[i].hex, strlen(cases[i].hex), cases[i].neg, out, &len);
        cr_assert_eq(rc, cases[i].rc, "%s", cases[i].hex);
        if (rc == 0) {
            cr_assert_eq(len, cases[i].len, "%s", cases[i].hex);
            cr_assert_arr_eq(out, cases[i].bytes, len, "%s", cases[i].hex);
        }
    }
    /* 64 digits fit; a set top bit then needs a 33rd byte, unless negative. */
    char max[65];
    memset(max, 'f', 64);
    max[64] = '\0';
    uint8_t out[DER_SERIAL_MAX];
    size_t len;
    max[0] = '7';
    cr_assert_eq(der_serial_from_hex(max, 64, false, out, &len), 0);
    max[0] = '8';
    cr_assert_eq(der_serial_from_hex(max, 64, false, out, &len), -1);
    memset(max + 1, '0', 63);
    cr_assert_eq(der_serial_from_hex(max, 64, true, out, &len), 0);
    cr_assert_eq(len, DER_SERIAL_MAX);
}
