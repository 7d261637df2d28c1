/*
 * Tests for common/signproto, the responder/signer wire format: what one side
 * encodes the other parses back field for field, the exact bytes of a frame
 * match docs/signer.md, and every truncation, bad length, unknown version or
 * type, bad hash algorithm, non-minimal serial and trailing byte is refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "signproto.h"

static void fill_req(struct signproto_req *r)
{
    memset(r, 0, sizeof(*r));
    r->id = 0x00010002;
    r->nonce_len = 4;
    memcpy(r->nonce, "\x04\x02\xab\xcd", 4);
    r->n = 2;
    r->ids[0].hash = 1;
    memset(r->ids[0].name_hash, 0x11, 20);
    memset(r->ids[0].key_hash, 0x22, 20);
    r->ids[0].serial_len = 2;
    memcpy(r->ids[0].serial, "\x10\x01", 2);
    r->ids[1].hash = 2;
    memset(r->ids[1].name_hash, 0x33, 32);
    memset(r->ids[1].key_hash, 0x44, 32);
    r->ids[1].serial_len = 1;
    r->ids[1].serial[0] = 0x00; /* serial 0 */
}

Test(signproto, request_round_trip_and_layout)
{
    static struct signproto_req r, back;
    uint8_t buf[SIGNPROTO_FRAME_MAX];
    fill_req(&r);
    int n = signproto_put_req(buf, sizeof(buf), &r);
    /* 4 len + 6 head + 1 + 4 nonce + 1 n + (1+20+20+1+2) + (1+32+32+1+1) */
    cr_assert_eq(n, 4 + 6 + 1 + 4 + 1 + 44 + 67);
    static const uint8_t head[] = {0, 0, 0, 123, 1, 1, 0, 1, 0, 2, 4, 4, 2, 0xab, 0xcd, 2, 1};
    cr_assert_arr_eq(buf, head, sizeof(head));
    size_t flen;
    cr_assert_eq(signproto_frame(buf, (size_t)n, &flen), 0);
    cr_assert_eq(flen, (size_t)n);
    cr_assert_eq(signproto_parse_req(buf, flen, &back), 0);
    cr_assert_eq(back.id, r.id);
    cr_assert_eq(back.n, 2);
    cr_assert_eq(back.nonce_len, 4);
    cr_assert_arr_eq(back.nonce, r.nonce, 4);
    cr_assert_arr_eq(&back.ids[1], &r.ids[1], sizeof(r.ids[1]));
    cr_assert_arr_eq(&back.ids[0], &r.ids[0], sizeof(r.ids[0]));
    /* Every truncation is incomplete, never a different frame. */
    for (size_t k = 0; k < (size_t)n; k++)
        cr_assert_eq(signproto_frame(buf, k, &flen), -EAGAIN, "prefix %zu", k);
    for (size_t k = 0; k < (size_t)n; k++)
        cr_assert_eq(signproto_parse_req(buf, k, &back), -EBADMSG, "prefix %zu", k);
}

Test(signproto, request_refusals)
{
    static struct signproto_req r, back;
    uint8_t buf[SIGNPROTO_FRAME_MAX], m[SIGNPROTO_FRAME_MAX];
    fill_req(&r);
    int n = signproto_put_req(buf, sizeof(buf), &r);
    cr_assert_gt(n, 0);
    /* version 2 */
    memcpy(m, buf, (size_t)n);
    m[4] = 2;
    cr_assert_eq(signproto_parse_req(m, (size_t)n, &back), -EBADMSG);
    /* a RESULT is not a request */
    memcpy(m, buf, (size_t)n);
    m[5] = SIGNPROTO_RESULT;
    cr_assert_eq(signproto_parse_req(m, (size_t)n, &back), -EBADMSG);
    /* hash algorithm 3 */
    memcpy(m, buf, (size_t)n);
    m[4 + 6 + 1 + 4 + 1] = 3;
    cr_assert_eq(signproto_parse_req(m, (size_t)n, &back), -EBADMSG);
    /* a non-minimal serial: 00 01 */
    memcpy(m, buf, (size_t)n);
    m[4 + 6 + 1 + 4 + 1 + 41 + 1] = 0x00;
    m[4 + 6 + 1 + 4 + 1 + 41 + 2] = 0x01;
    cr_assert_eq(signproto_parse_req(m, (size_t)n, &back), -EBADMSG);
    /* one trailing byte, with the length saying so */
    memcpy(m, buf, (size_t)n);
    m[n] = 0;
    m[3]++;
    cr_assert_eq(signproto_parse_req(m, (size_t)n + 1, &back), -EBADMSG);
    /* zero CertIDs */
    r.n = 0;
    cr_assert_eq(signproto_put_req(buf, sizeof(buf), &r), -EINVAL);
    /* an empty or oversized frame poisons the stream */
    static const uint8_t big[4] = {0, 0, 0x80, 1}, empty[4] = {0, 0, 0, 0};
    size_t flen;
    cr_assert_eq(signproto_frame(big, 4, &flen), -EMSGSIZE);
    cr_assert_eq(signproto_frame(empty, 4, &flen), -EMSGSIZE);
    /* the encoder never writes past cap */
    fill_req(&r);
    cr_assert_eq(signproto_put_req(buf, 20, &r), -ENOSPC);
}

Test(signproto, result_round_trip_and_refusals)
{
    static const uint8_t der[] = {0x30, 0x03, 0x0a, 0x01, 0x00};
    struct signproto_resp r = {.id = 7,
                               .status = 0,
                               .flags = SIGNPROTO_F_UNLISTED,
                               .this_update = 1700000000,
                               .next_update = 1700003600,
                               .der = der,
                               .der_len = sizeof(der)},
                          back;
    uint8_t buf[256];
    int n = signproto_put_resp(buf, sizeof(buf), &r);
    cr_assert_eq(n, 4 + 6 + 2 + 16 + (int)sizeof(der));
    cr_assert_eq(signproto_parse_resp(buf, (size_t)n, &back), 0);
    cr_assert_eq(back.id, 7);
    cr_assert_eq(back.flags, SIGNPROTO_F_UNLISTED);
    cr_assert_eq(back.this_update, 1700000000);
    cr_assert_eq(back.next_update, 1700003600);
    cr_assert_eq(back.der_len, sizeof(der));
    cr_assert_arr_eq(back.der, der, sizeof(der));
    /* status 3 (tryLater) with DER attached is refused both ways */
    r.status = 3;
    cr_assert_eq(signproto_put_resp(buf, sizeof(buf), &r), -EINVAL);
    r.der_len = 0;
    n = signproto_put_resp(buf, sizeof(buf), &r);
    cr_assert_gt(n, 0);
    cr_assert_eq(signproto_parse_resp(buf, (size_t)n, &back), 0);
    cr_assert_eq(back.status, 3);
    buf[4 + 6] = 4; /* 4 is not an OCSPResponseStatus */
    cr_assert_eq(signproto_parse_resp(buf, (size_t)n, &back), -EBADMSG);
    buf[4 + 6] = 3;
    buf[4 + 7] = 0x80; /* an unknown flag */
    cr_assert_eq(signproto_parse_resp(buf, (size_t)n, &back), -EBADMSG);
    /* a request frame is not a result */
    static struct signproto_req q;
    fill_req(&q);
    uint8_t qb[SIGNPROTO_FRAME_MAX];
    n = signproto_put_req(qb, sizeof(qb), &q);
    cr_assert_eq(signproto_parse_resp(qb, (size_t)n, &back), -EBADMSG);
}
