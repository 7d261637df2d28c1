/*
 * Tests of the index.txt parser. The REAL_* lines were copied byte for byte from
 * an index.txt written by `openssl ca` (OpenSSL 3.0.19): issue, then -revoke
 * plain, with -crl_reason for each reason it knows, -crl_compromise,
 * -crl_CA_compromise, -crl_hold (by name and dotted), -enddate past 2049, and
 * -updatedb for the E line. Expected times were computed with `date -u +%s`.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cadb.h"

/* clang-format off */
#define REAL_PLAIN     "R\t271123090643Z\t261123090643Z\t01\tunknown\t" \
                       "/CN=host 1.example/O=Acme Corp"
#define REAL_KEYCOMP   "R\t271123090643Z\t261123090643Z,keyCompromise\t02\tunknown\t" \
                       "/CN=host 2.example/O=Acme Corp"
#define REAL_KEYTIME   "R\t271123090643Z\t261123090643Z,keyTime,20240301120000Z\t03\tunknown\t" \
                       "/CN=host 3.example/O=Acme Corp"
#define REAL_HOLD_NAME "R\t271123090643Z\t261123090643Z,holdInstruction,holdInstructionReject\t04" \
                       "\tunknown\t/CN=host 4.example/O=Acme Corp"
#define REAL_CAKEYTIME "R\t271123090643Z\t261123090643Z,CAkeyTime,20230102030405Z\t05\tunknown\t" \
                       "/CN=host 5.example/O=Acme Corp"
#define REAL_REMOVE    "R\t271123090643Z\t261123090643Z,removeFromCRL\t06\tunknown\t" \
                       "/CN=host 6.example/O=Acme Corp"
#define REAL_VALID     "V\t271123090643Z\t\t07\tunknown\t/CN=host 7.example/O=Acme Corp"
#define REAL_VALID_GEN "V\t20510101000000Z\t\t08\tunknown\t/CN=long lived"
#define REAL_HOLD_OID  "R\t271123090643Z\t261123090643Z,holdInstruction,1.2.840.10040.2.2\t80FF" \
                       "\tunknown\t/CN=high bit"
#define REAL_UNSPEC    "R\t271123090651Z\t261123090651Z,unspecified\t8100\tunknown\t" \
                       "/CN=reason unspecified"
#define REAL_CACOMP    "R\t271123090651Z\t261123090651Z,CACompromise\t8101\tunknown\t" \
                       "/CN=reason CACompromise"
#define REAL_AFFIL     "R\t271123090651Z\t261123090651Z,affiliationChanged\t8102\tunknown\t" \
                       "/CN=reason affiliationChanged"
#define REAL_SUPERSEDED "R\t271123090651Z\t261123090651Z,superseded\t8103\tunknown\t" \
                       "/CN=reason superseded"
#define REAL_CESSATION "R\t271123090651Z\t261123090651Z,cessationOfOperation\t8104\tunknown\t" \
                       "/CN=reason cessationOfOperation"
#define REAL_CERTHOLD  "R\t271123090651Z\t261123090651Z,certificateHold\t8105\tunknown\t" \
                       "/CN=reason certificateHold"
#define REAL_EXPIRED   "E\t210101000000Z\t\t8108\tunknown\t/CN=expired one"
#define REAL_ESCAPED   "V\t271123090651Z\t\t8109\tunknown\t/CN=tab\\x09here\\/slash/O=x"
/* clang-format on */
/* OpenSSL refuses -crl_reason for these two, so they are written by hand. */
#define HAND_PRIVWD "R\t271123090651Z\t261123090651Z,privilegeWithdrawn\t8106\tunknown\t/CN=p"
#define HAND_AACOMP "R\t271123090651Z\t261123090651Z,AACompromise\t8107\tunknown\t/CN=a"

#define T_REV1 1795424803 /* 2026-11-23 09:06:43 */
#define T_EXP1 1826960803 /* 2027-11-23 09:06:43 */
#define T_REV2 1795424811 /* 2026-11-23 09:06:51 */
#define T_EXP2 1826960811 /* 2027-11-23 09:06:51 */

static int parse(const char *s, struct cadb_entry *e)
{
    return cadb_parse_line(s, strlen(s), e);
}

static struct cadb_entry parse_ok(const char *s)
{
    struct cadb_entry e;
    int r = parse(s, &e);
    cr_assert_eq(r, 0, "parse(\"%s\") = %d", s, r);
    return e;
}

static void expect_bad(const char *s)
{
    struct cadb_entry e;
    int r = parse(s, &e);
    cr_assert_eq(r, -EBADMSG, "parse(\"%s\") = %d, expected -EBADMSG", s, r);
}

static void expect_serial(const struct cadb_entry *e, const uint8_t *want, size_t n)
{
    cr_assert_eq(e->serial_len, n, "serial_len %zu, want %zu", e->serial_len, n);
    cr_assert_arr_eq(e->serial, want, n);
}

static void expect_subject(const struct cadb_entry *e, const char *want)
{
    cr_assert_eq(e->subject_len, strlen(want));
    cr_assert_arr_eq(e->subject, want, strlen(want));
}

/* ---- real lines ---- */

Test(cadb, real_plain_revoke)
{
    struct cadb_entry e = parse_ok(REAL_PLAIN);
    cr_assert_eq(e.type, 'R');
    cr_assert_eq(e.status, STORE_REVOKED);
    cr_assert_eq(e.reason, STORE_REASON_NONE);
    cr_assert_eq(e.not_after, T_EXP1);
    cr_assert_eq(e.revoked_at, T_REV1);
    cr_assert_eq(e.invalidity, 0);
    cr_assert_null(e.hold_oid);
    cr_assert_eq(e.hold_oid_len, 0);
    expect_serial(&e, (const uint8_t[]){0x01}, 1);
    expect_subject(&e, "/CN=host 1.example/O=Acme Corp");
}

Test(cadb, real_key_compromise)
{
    struct cadb_entry e = parse_ok(REAL_KEYCOMP);
    cr_assert_eq(e.status, STORE_REVOKED);
    cr_assert_eq(e.reason, 1);
    cr_assert_eq(e.revoked_at, T_REV1);
    cr_assert_eq(e.invalidity, 0);
    expect_serial(&e, (const uint8_t[]){0x02}, 1);
}

Test(cadb, real_crl_compromise_key_time)
{
    struct cadb_entry e = parse_ok(REAL_KEYTIME);
    cr_assert_eq(e.status, STORE_REVOKED);
    cr_assert_eq(e.reason, 1);
    cr_assert_eq(e.revoked_at, T_REV1);
    cr_assert_eq(e.invalidity, 1709294400); /* 2024-03-01 12:00:00 */
    expect_subject(&e, "/CN=host 3.example/O=Acme Corp");
}

Test(cadb, real_crl_ca_compromise)
{
    struct cadb_entry e = parse_ok(REAL_CAKEYTIME);
    cr_assert_eq(e.status, STORE_REVOKED);
    cr_assert_eq(e.reason, 2);
    cr_assert_eq(e.invalidity, 1672628645); /* 2023-01-02 03:04:05 */
    expect_serial(&e, (const uint8_t[]){0x05}, 1);
}

Test(cadb, real_crl_hold_by_name)
{
    struct cadb_entry e = parse_ok(REAL_HOLD_NAME);
    cr_assert_eq(e.status, STORE_HOLD);
    cr_assert_eq(e.reason, 6);
    cr_assert_eq(e.revoked_at, T_REV1);
    cr_assert_eq(e.hold_oid_len, strlen("holdInstructionReject"));
    cr_assert_arr_eq(e.hold_oid, "holdInstructionReject", e.hold_oid_len);
    expect_subject(&e, "/CN=host 4.example/O=Acme Corp");
}

Test(cadb, real_crl_hold_dotted_high_bit_serial)
{
    struct cadb_entry e = parse_ok(REAL_HOLD_OID);
    cr_assert_eq(e.status, STORE_HOLD);
    cr_assert_eq(e.reason, 6);
    cr_assert_eq(e.hold_oid_len, strlen("1.2.840.10040.2.2"));
    cr_assert_arr_eq(e.hold_oid, "1.2.840.10040.2.2", e.hold_oid_len);
    expect_serial(&e, (const uint8_t[]){0x00, 0x80, 0xff}, 3);
    expect_subject(&e, "/CN=high bit");
}

Test(cadb, real_remove_from_crl)
{
    /* removeFromCRL releases a hold (RFC 5280 5.3.1): the certificate is good again. */
    struct cadb_entry e = parse_ok(REAL_REMOVE);
    cr_assert_eq(e.status, STORE_GOOD);
    cr_assert_eq(e.reason, STORE_REASON_NONE);
    cr_assert_eq(e.type, 'R');
    cr_assert(e.flags & CADB_F_RELEASED);
}

Test(cadb, every_reason)
{
    static const struct {
        const char *line;
        uint8_t reason;
        enum store_status status;
    } cases[] = {
        {REAL_UNSPEC, 0, STORE_REVOKED},     {REAL_KEYCOMP, 1, STORE_REVOKED},
        {REAL_CACOMP, 2, STORE_REVOKED},     {REAL_AFFIL, 3, STORE_REVOKED},
        {REAL_SUPERSEDED, 4, STORE_REVOKED}, {REAL_CESSATION, 5, STORE_REVOKED},
        {REAL_CERTHOLD, 6, STORE_HOLD},      {REAL_REMOVE, STORE_REASON_NONE, STORE_GOOD},
        {HAND_PRIVWD, 9, STORE_REVOKED},     {HAND_AACOMP, 10, STORE_REVOKED},
        {REAL_HOLD_NAME, 6, STORE_HOLD},     {REAL_KEYTIME, 1, STORE_REVOKED},
        {REAL_CAKEYTIME, 2, STORE_REVOKED},  {REAL_PLAIN, STORE_REASON_NONE, STORE_REVOKED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cadb_entry e = parse_ok(cases[i].line);
        cr_assert_eq(e.reason, cases[i].reason, "%s: reason %u", cases[i].line, e.reason);
        cr_assert_eq(e.status, cases[i].status, "%s: status %d", cases[i].line, e.status);
    }
}

Test(cadb, certificate_hold_without_instruction)
{
    struct cadb_entry e = parse_ok(REAL_CERTHOLD);
    cr_assert_eq(e.status, STORE_HOLD);
    cr_assert_null(e.hold_oid);
    cr_assert_eq(e.revoked_at, T_REV2);
    cr_assert_eq(e.not_after, T_EXP2);
    expect_serial(&e, (const uint8_t[]){0x00, 0x81, 0x05}, 3);
}

Test(cadb, valid_utctime)
{
    struct cadb_entry e = parse_ok(REAL_VALID);
    cr_assert_eq(e.type, 'V');
    cr_assert_eq(e.status, STORE_GOOD);
    cr_assert_eq(e.reason, STORE_REASON_NONE);
    cr_assert_eq(e.not_after, T_EXP1);
    cr_assert_eq(e.revoked_at, 0);
    cr_assert_eq(e.invalidity, 0);
    expect_serial(&e, (const uint8_t[]){0x07}, 1);
}

Test(cadb, valid_generalized_time)
{
    struct cadb_entry e = parse_ok(REAL_VALID_GEN);
    cr_assert_eq(e.status, STORE_GOOD);
    cr_assert_eq(e.not_after, 2556144000); /* 2051-01-01 00:00:00 */
    expect_subject(&e, "/CN=long lived");
}

Test(cadb, expired_is_good_with_not_after)
{
    struct cadb_entry e = parse_ok(REAL_EXPIRED);
    cr_assert_eq(e.type, 'E');
    cr_assert_eq(e.status, STORE_GOOD);
    cr_assert_eq(e.reason, STORE_REASON_NONE);
    cr_assert_eq(e.not_after, 1609459200); /* 2021-01-01 */
    cr_assert_eq(e.revoked_at, 0);
    expect_serial(&e, (const uint8_t[]){0x00, 0x81, 0x08}, 3);
}

Test(cadb, subject_kept_raw)
{
    struct cadb_entry e = parse_ok(REAL_ESCAPED);
    expect_subject(&e, "/CN=tab\\x09here\\/slash/O=x");
}

Test(cadb, empty_subject)
{
    struct cadb_entry e = parse_ok("V\t271123090651Z\t\t0A\tunknown\t");
    cr_assert_eq(e.subject_len, 0);
}

Test(cadb, txt_db_escaped_tab_stays_in_field)
{
    /* "\<TAB>" is how TXT_DB writes a TAB inside a field: not a separator. */
    struct cadb_entry e = parse_ok("V\t271123090651Z\t\t0A\tunknown\t/CN=a\\\tb");
    expect_subject(&e, "/CN=a\\\tb");
    /* ...so it cannot make up a missing column either. */
    expect_bad("V\t271123090651Z\t\t0A\\\tunknown/CN=a");
}

Test(cadb, reason_case_insensitive)
{
    struct cadb_entry e =
        parse_ok("R\t271123090651Z\t261123090651Z,KEYCOMPROMISE\t0B\tunknown\t/CN=x");
    cr_assert_eq(e.reason, 1);
    e = parse_ok("R\t271123090651Z\t261123090651Z,cacompromise\t0B\tunknown\t/CN=x");
    cr_assert_eq(e.reason, 2);
    e = parse_ok("R\t271123090651Z\t261123090651Z,HOLDINSTRUCTION,1.2.3\t0B\tunknown\t/CN=x");
    cr_assert_eq(e.status, STORE_HOLD);
    e = parse_ok("R\t271123090651Z\t261123090651Z,cakeytime,20230102030405Z\t0B\tunknown\t/CN=x");
    cr_assert_eq(e.reason, 2);
    cr_assert_eq(e.invalidity, 1672628645);
}

Test(cadb, argument_after_plain_reason_ignored_like_openssl)
{
    struct cadb_entry e =
        parse_ok("R\t271123090651Z\t261123090651Z,superseded,whatever\t0B\tunknown\t/CN=x");
    cr_assert_eq(e.reason, 4);
    cr_assert_eq(e.invalidity, 0);
    cr_assert_null(e.hold_oid);
}

Test(cadb, other_time_forms)
{
    /* GeneralizedTime revocation date (what OpenSSL writes from 2050 on). */
    struct cadb_entry e = parse_ok("R\t20510101000000Z\t20500101000000Z\t0B\tunknown\t/CN=x");
    cr_assert_eq(e.revoked_at, 2524608000); /* 2050-01-01 */
    /* UTCTime key compromise time. */
    e = parse_ok("R\t271123090651Z\t261123090651Z,keyTime,240301120000Z\t0B\tunknown\t/CN=x");
    cr_assert_eq(e.invalidity, 1709294400);
    /* OpenSSL's non-strict forms (ASN1_TIME_set_string): -crl_compromise accepts them and
     * writes the argument as given; a foreign certificate's notAfter is copied verbatim. */
    e = parse_ok("R\t271123090651Z\t261123090651Z,keyTime,202403011200Z\t0B\tunknown\t/CN=x");
    cr_assert_eq(e.invalidity, 1709294400, "GeneralizedTime without seconds");
    e = parse_ok("R\t271123090651Z\t261123090651Z,keyTime,20240301120000.25Z\t0B\tunknown\t/CN=x");
    cr_assert_eq(e.invalidity, 1709294400, "fractional seconds dropped");
    e = parse_ok(
        "R\t271123090651Z\t261123090651Z,CAkeyTime,20240301130000+0100\t0B\tunknown\t/CN=x");
    cr_assert_eq(e.invalidity, 1709294400, "+hhmm offset");
    e = parse_ok("R\t271123090651Z\t261123090651Z,keyTime,20240301113000-0030\t0B\tunknown\t/CN=x");
    cr_assert_eq(e.invalidity, 1709294400, "-hhmm offset");
    e = parse_ok("V\t2711230906Z\t\t0B\tunknown\t/CN=x");
    cr_assert_eq(e.not_after, T_EXP2 - 51, "UTCTime without seconds");
    e = parse_ok("V\t271123100651+0100\t\t0B\tunknown\t/CN=x");
    cr_assert_eq(e.not_after, T_EXP2, "UTCTime with an offset");
    e = parse_ok("R\t271123090651Z\t2611230906Z,superseded\t0B\tunknown\t/CN=x");
    cr_assert_eq(e.revoked_at, T_REV2 - 51);
    /* UTCTime 50-year window: 50 is 1950. */
    e = parse_ok("V\t500101000000Z\t\t0B\tunknown\t/CN=x");
    cr_assert_eq(e.not_after, -631152000);
}

/* ---- serials ---- */

static struct cadb_entry parse_serial_line(const char *hex)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "V\t271123090651Z\t\t%s\tunknown\t/CN=x", hex);
    return parse_ok(buf);
}

static void expect_bad_serial(const char *hex)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "V\t271123090651Z\t\t%s\tunknown\t/CN=x", hex);
    expect_bad(buf);
}

Test(cadb, serial_canonical_der)
{
    struct cadb_entry e = parse_serial_line("00FF");
    expect_serial(&e, (const uint8_t[]){0x00, 0xff}, 2);
    e = parse_serial_line("80");
    expect_serial(&e, (const uint8_t[]){0x00, 0x80}, 2);
    e = parse_serial_line("7F");
    expect_serial(&e, (const uint8_t[]){0x7f}, 1);
    e = parse_serial_line("0001");
    expect_serial(&e, (const uint8_t[]){0x01}, 1);
    e = parse_serial_line("00007F");
    expect_serial(&e, (const uint8_t[]){0x7f}, 1);
    e = parse_serial_line("ABC"); /* odd length: a leading 0 nibble */
    expect_serial(&e, (const uint8_t[]){0x0a, 0xbc}, 2);
    e = parse_serial_line("0ABC");
    expect_serial(&e, (const uint8_t[]){0x0a, 0xbc}, 2);
    e = parse_serial_line("8ABC");
    expect_serial(&e, (const uint8_t[]){0x00, 0x8a, 0xbc}, 3);
    e = parse_serial_line("deadbeef"); /* lower case */
    expect_serial(&e, (const uint8_t[]){0x00, 0xde, 0xad, 0xbe, 0xef}, 5);
    e = parse_serial_line("1");
    expect_serial(&e, (const uint8_t[]){0x01}, 1);
}

Test(cadb, serial_longest)
{
    char hex[2 * DER_SERIAL_MAX + 3];
    uint8_t want[DER_SERIAL_MAX];
    /* 32 content bytes with the top bit clear: the most we keep. */
    memset(hex, '7', 2 * DER_SERIAL_MAX);
    hex[2 * DER_SERIAL_MAX] = '\0';
    memset(want, 0x77, sizeof(want));
    struct cadb_entry e = parse_serial_line(hex);
    expect_serial(&e, want, DER_SERIAL_MAX);
    /* Leading zeros do not count. */
    hex[0] = '0';
    hex[1] = '0';
    memset(hex + 2, '7', 2 * DER_SERIAL_MAX);
    hex[2 * DER_SERIAL_MAX + 2] = '\0';
    e = parse_serial_line(hex);
    expect_serial(&e, want, DER_SERIAL_MAX);
    /* 31 magnitude bytes with the top bit set: 0x00 + 31 = 32. */
    memset(hex, 'F', 2 * (DER_SERIAL_MAX - 1));
    hex[2 * (DER_SERIAL_MAX - 1)] = '\0';
    e = parse_serial_line(hex);
    cr_assert_eq(e.serial_len, DER_SERIAL_MAX);
    cr_assert_eq(e.serial[0], 0x00);
    cr_assert_eq(e.serial[1], 0xff);
    cr_assert_eq(e.serial[DER_SERIAL_MAX - 1], 0xff);
}

Test(cadb, serial_too_long)
{
    char hex[2 * DER_SERIAL_MAX + 2];
    /* 32 magnitude bytes with the top bit set need 33 content bytes. */
    memset(hex, '8', 2 * DER_SERIAL_MAX);
    hex[2 * DER_SERIAL_MAX] = '\0';
    expect_bad_serial(hex);
    /* 65 significant digits: 33 bytes. */
    memset(hex, '1', 2 * DER_SERIAL_MAX + 1);
    hex[2 * DER_SERIAL_MAX + 1] = '\0';
    expect_bad_serial(hex);
}

Test(cadb, serial_zero)
{
    /* openssl ca writes "00" when its serial file says 00 (apps/ca.c do_body). */
    static const char *const zeros[] = {"00", "0", "0000"};
    for (size_t i = 0; i < 3; i++) {
        struct cadb_entry e = parse_serial_line(zeros[i]);
        expect_serial(&e, (const uint8_t[]){0x00}, 1);
        cr_assert_eq(e.flags, CADB_F_SERIAL_ZERO, "%s", zeros[i]);
    }
    cr_assert_eq(parse_serial_line("01").flags, 0);
}

Test(cadb, serial_negative)
{
    /* BN_bn2hex of a negative serial, as -revoke/-valid write a foreign certificate's. */
    static const struct {
        const char *hex;
        uint8_t der[4];
        size_t n;
    } cases[] = {
        {"-01", {0xff}, 1},         {"-0A", {0xf6}, 1},       {"-80", {0x80}, 1},
        {"-81", {0xff, 0x7f}, 2},   {"-FF", {0xff, 0x01}, 2}, {"-0100", {0xff, 0x00}, 2},
        {"-8000", {0x80, 0x00}, 2}, {"-1", {0xff}, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cadb_entry e = parse_serial_line(cases[i].hex);
        cr_assert_eq(e.serial_len, cases[i].n, "%s", cases[i].hex);
        cr_assert_arr_eq(e.serial, cases[i].der, cases[i].n, "%s", cases[i].hex);
        cr_assert_eq(e.flags, CADB_F_SERIAL_NEGATIVE, "%s", cases[i].hex);
    }
    struct cadb_entry e = parse_serial_line("-00");
    cr_assert_eq(e.flags, CADB_F_SERIAL_ZERO);
}

Test(cadb, serial_bad_hex)
{
    expect_bad_serial("");
    expect_bad_serial("0G");
    expect_bad_serial("-");
    expect_bad_serial("--0A");
    expect_bad_serial("+0A");
    expect_bad_serial("0x1F");
    expect_bad_serial(" 01");
    expect_bad_serial("01 ");
}

/* ---- blank lines and line ends ---- */

Test(cadb, blank_and_comment_lines)
{
    struct cadb_entry e;
    cr_assert_eq(cadb_parse_line("", 0, &e), 1);
    cr_assert_eq(cadb_parse_line("\r", 1, &e), 1);
    cr_assert_eq(parse("# written by hand", &e), 1);
    cr_assert_eq(parse("#", &e), 1);
    /* Whitespace is not blank: OpenSSL would not take it either. */
    cr_assert_eq(parse(" ", &e), -EBADMSG);
}

Test(cadb, crlf_stripped)
{
    struct cadb_entry e = parse_ok(REAL_KEYCOMP "\r");
    cr_assert_eq(e.reason, 1);
    expect_subject(&e, "/CN=host 2.example/O=Acme Corp");
    /* Only one: a second \r is a control character in the subject. */
    expect_bad(REAL_KEYCOMP "\r\r");
}

/* ---- malformed lines, one class per test ---- */

Test(cadb, bad_field_count)
{
    expect_bad("V\t271123090651Z\t\t0A\tunknown");               /* 5 */
    expect_bad("V\t271123090651Z\t\t0A\tunknown\t/CN=x\textra"); /* 7 */
    expect_bad("V\t271123090651Z\t\t0A\tunknown\t/CN=x\t");      /* 7, last empty */
    expect_bad("V");
    expect_bad("V 271123090651Z  0A unknown /CN=x"); /* spaces are not separators */
}

Test(cadb, bad_type)
{
    expect_bad("S\t271123090651Z\t\t0A\tunknown\t/CN=x");
    expect_bad("v\t271123090651Z\t\t0A\tunknown\t/CN=x");
    expect_bad("VV\t271123090651Z\t\t0A\tunknown\t/CN=x");
    expect_bad("\t271123090651Z\t\t0A\tunknown\t/CN=x");
}

Test(cadb, revoked_without_date)
{
    expect_bad("R\t271123090651Z\t\t0A\tunknown\t/CN=x");
    expect_bad("R\t271123090651Z\t,keyCompromise\t0A\tunknown\t/CN=x");
    expect_bad("R\t271123090651Z\t,\t0A\tunknown\t/CN=x");
}

Test(cadb, valid_with_revocation)
{
    expect_bad("V\t271123090651Z\t261123090651Z\t0A\tunknown\t/CN=x");
    expect_bad("V\t271123090651Z\t,\t0A\tunknown\t/CN=x");
}

Test(cadb, expired_with_revocation)
{
    expect_bad("E\t210101000000Z\t201123090651Z,keyCompromise\t0A\tunknown\t/CN=x");
}

Test(cadb, bad_expiry)
{
    expect_bad("V\t\t\t0A\tunknown\t/CN=x");
    expect_bad("V\t271323090651Z\t\t0A\tunknown\t/CN=x");     /* month 13 */
    expect_bad("V\t270229000000Z\t\t0A\tunknown\t/CN=x");     /* not a leap year */
    expect_bad("V\t2711230906510Z\t\t0A\tunknown\t/CN=x");    /* 14 characters */
    expect_bad("V\t271123090651\t\t0A\tunknown\t/CN=x");      /* no Z */
    expect_bad("V\t27112309065lZ\t\t0A\tunknown\t/CN=x");     /* letter */
    expect_bad("V\t271123090651+1300\t\t0A\tunknown\t/CN=x"); /* offset past 12 h */
    expect_bad("V\t271123090651+01\t\t0A\tunknown\t/CN=x");   /* short offset */
    expect_bad("V\t271123090651.5Z\t\t0A\tunknown\t/CN=x");   /* fraction in UTCTime */
    expect_bad("V\t2711230906Z5\t\t0A\tunknown\t/CN=x");      /* bytes after Z */
}

Test(cadb, bad_revocation_date)
{
    expect_bad("R\t271123090651Z\t261123250651Z\t0A\tunknown\t/CN=x"); /* hour 25 */
    expect_bad("R\t271123090651Z\t26112309065Z,keyCompromise\t0A\tunknown\t/CN=x");
    expect_bad("R\t271123090651Z\tkeyCompromise\t0A\tunknown\t/CN=x");
}

Test(cadb, unknown_reason)
{
    expect_bad("R\t271123090651Z\t261123090651Z,keycompromised\t0A\tunknown\t/CN=x");
    expect_bad("R\t271123090651Z\t261123090651Z,\t0A\tunknown\t/CN=x");
    expect_bad("R\t271123090651Z\t261123090651Z,,keyCompromise\t0A\tunknown\t/CN=x");
    expect_bad("R\t271123090651Z\t261123090651Z,hold\t0A\tunknown\t/CN=x");
    expect_bad("R\t271123090651Z\t261123090651Z,7\t0A\tunknown\t/CN=x");
    expect_bad("R\t271123090651Z\t261123090651Z, keyCompromise\t0A\tunknown\t/CN=x");
}

Test(cadb, hold_instruction_without_oid)
{
    expect_bad("R\t271123090651Z\t261123090651Z,holdInstruction\t0A\tunknown\t/CN=x");
    expect_bad("R\t271123090651Z\t261123090651Z,holdInstruction,\t0A\tunknown\t/CN=x");
}

Test(cadb, compromise_time_missing_or_bad)
{
    expect_bad("R\t271123090651Z\t261123090651Z,keyTime\t0A\tunknown\t/CN=x");
    expect_bad("R\t271123090651Z\t261123090651Z,keyTime,\t0A\tunknown\t/CN=x");
    expect_bad("R\t271123090651Z\t261123090651Z,keyTime,2024\t0A\tunknown\t/CN=x");
    expect_bad("R\t271123090651Z\t261123090651Z,CAkeyTime\t0A\tunknown\t/CN=x");
    expect_bad("R\t271123090651Z\t261123090651Z,CAkeyTime,20231302030405Z\t0A\tunknown\t/CN=x");
    expect_bad("R\t271123090651Z\t261123090651Z,keyTime,20240301120000Z,x\t0A\tunknown\t/CN=x");
}

Test(cadb, control_characters)
{
    static const char line[] = "V\t271123090651Z\t\t0A\tunknown\t/CN=a\0b";
    struct cadb_entry e;
    cr_assert_eq(cadb_parse_line(line, sizeof(line) - 1, &e), -EBADMSG); /* NUL */
    expect_bad("V\t271123090651Z\t\t0A\tunknown\t/CN=a\nb");
    expect_bad("V\t271123090651Z\t\t0A\tunknown\t/CN=a\rb");
    expect_bad("V\t271123090651Z\t\t0A\tunknown\t/CN=a\x1b[31m");
    expect_bad("V\t271123090651Z\t\t0A\tunk\x7fnown\t/CN=a");
    /* Bytes >= 0x80 are someone's UTF-8: kept. */
    struct cadb_entry ok = parse_ok("V\t271123090651Z\t\t0A\tunknown\t/CN=caf\xc3\xa9");
    expect_subject(&ok, "/CN=caf\xc3\xa9");
}

Test(cadb, line_too_long)
{
    static const char head[] = "V\t271123090651Z\t\t0A\tunknown\t/CN=";
    size_t n = CADB_LINE_MAX + 1;
    char *buf = malloc(n + 1);
    cr_assert_not_null(buf);
    memcpy(buf, head, sizeof(head) - 1);
    memset(buf + sizeof(head) - 1, 'a', n - (sizeof(head) - 1));
    buf[n - 1] = '\r'; /* the limit excludes the line end */
    struct cadb_entry e;
    cr_assert_eq(cadb_parse_line(buf, CADB_LINE_MAX, &e), 0);
    cr_assert_eq(cadb_parse_line(buf, CADB_LINE_MAX + 1, &e), 0);
    cr_assert_eq(e.subject_len, CADB_LINE_MAX - (sizeof(head) - 1) + 4);
    buf[n - 1] = 'a';
    cr_assert_eq(cadb_parse_line(buf, CADB_LINE_MAX + 1, &e), -EBADMSG);
    free(buf);
}

Test(cadb, output_untouched_on_error_and_blank)
{
    struct cadb_entry e, zero;
    memset(&e, 0xa5, sizeof(e));
    memcpy(&zero, &e, sizeof(e));
    /* Fails late (bad serial), after the status and dates were parsed. */
    cr_assert_eq(parse("R\t271123090651Z\t261123090651Z,keyCompromise\tXX\tunknown\t/CN=x", &e),
                 -EBADMSG);
    cr_assert_arr_eq(&e, &zero, sizeof(e));
    cr_assert_eq(parse("", &e), 1);
    cr_assert_arr_eq(&e, &zero, sizeof(e));
}

/* ---- iterator ---- */

Test(cadb, iter_line_numbers_and_bad_line)
{
    /* clang-format off */
    static const char db[] =
        REAL_PLAIN "\n"                                  /* 1 */
        "\n"                                             /* 2 blank */
        REAL_VALID "\n"                                  /* 3 */
        "Q\tgarbage\n"                                   /* 4 bad */
        "# note\n"                                       /* 5 comment */
        REAL_HOLD_OID "\n"                               /* 6 */
        "V\t271123090651Z\t\t0G\tunknown\t/CN=hex\n"     /* 7 bad: not hex */
        REAL_EXPIRED "\n";                               /* 8 */
    /* clang-format on */
    struct cadb_iter it;
    struct cadb_entry e;
    unsigned ln = 0;
    cadb_iter_init(&it, db, sizeof(db) - 1);

    cr_assert_eq(cadb_next(&it, &e, &ln), 1);
    cr_assert_eq(ln, 1);
    cr_assert_eq(e.status, STORE_REVOKED);
    expect_subject(&e, "/CN=host 1.example/O=Acme Corp");

    cr_assert_eq(cadb_next(&it, &e, &ln), 1);
    cr_assert_eq(ln, 3);
    cr_assert_eq(e.status, STORE_GOOD);

    cr_assert_eq(cadb_next(&it, &e, &ln), -EBADMSG);
    cr_assert_eq(ln, 4);

    cr_assert_eq(cadb_next(&it, &e, &ln), 1);
    cr_assert_eq(ln, 6);
    cr_assert_eq(e.status, STORE_HOLD);
    expect_serial(&e, (const uint8_t[]){0x00, 0x80, 0xff}, 3);
    expect_subject(&e, "/CN=high bit");

    cr_assert_eq(cadb_next(&it, &e, &ln), -EBADMSG);
    cr_assert_eq(ln, 7);

    cr_assert_eq(cadb_next(&it, &e, &ln), 1);
    cr_assert_eq(ln, 8);
    cr_assert_eq(e.type, 'E');

    ln = 99;
    cr_assert_eq(cadb_next(&it, &e, &ln), 0);
    cr_assert_eq(ln, 99, "lineno is left alone at the end");
    cr_assert_eq(cadb_next(&it, &e, &ln), 0, "the end stays the end");
}

Test(cadb, iter_no_final_newline)
{
    /* Exactly sized heap copy: under ASan, any read past the end is caught. */
    static const char db[] = REAL_VALID "\n" REAL_KEYCOMP;
    char *buf = malloc(sizeof(db) - 1);
    cr_assert_not_null(buf);
    memcpy(buf, db, sizeof(db) - 1);
    struct cadb_iter it;
    struct cadb_entry e;
    unsigned ln = 0;
    cadb_iter_init(&it, buf, sizeof(db) - 1);
    cr_assert_eq(cadb_next(&it, &e, &ln), 1);
    cr_assert_eq(ln, 1);
    cr_assert_eq(cadb_next(&it, &e, &ln), 1);
    cr_assert_eq(ln, 2);
    cr_assert_eq(e.reason, 1);
    expect_subject(&e, "/CN=host 2.example/O=Acme Corp");
    cr_assert_eq(cadb_next(&it, &e, &ln), 0);
    free(buf);
}

Test(cadb, iter_crlf)
{
    static const char db[] = REAL_VALID "\r\n\r\n" REAL_KEYCOMP "\r\n";
    struct cadb_iter it;
    struct cadb_entry e;
    unsigned ln = 0;
    cadb_iter_init(&it, db, sizeof(db) - 1);
    cr_assert_eq(cadb_next(&it, &e, &ln), 1);
    cr_assert_eq(ln, 1);
    expect_subject(&e, "/CN=host 7.example/O=Acme Corp");
    cr_assert_eq(cadb_next(&it, &e, &ln), 1);
    cr_assert_eq(ln, 3);
    expect_subject(&e, "/CN=host 2.example/O=Acme Corp");
    cr_assert_eq(cadb_next(&it, &e, &ln), 0);
}

Test(cadb, iter_empty_and_blank_only)
{
    struct cadb_iter it;
    struct cadb_entry e;
    cadb_iter_init(&it, NULL, 0);
    cr_assert_eq(cadb_next(&it, &e, NULL), 0);
    cadb_iter_init(&it, "", 0);
    cr_assert_eq(cadb_next(&it, &e, NULL), 0);
    cadb_iter_init(&it, "\n\n\r\n#x\n", 7);
    cr_assert_eq(cadb_next(&it, &e, NULL), 0);
}

Test(cadb, iter_respects_length)
{
    /* The buffer goes on past len; only len bytes are one (cut) line. */
    static const char db[] = REAL_VALID "\n" REAL_KEYCOMP;
    struct cadb_iter it;
    struct cadb_entry e;
    unsigned ln = 0;
    cadb_iter_init(&it, db, strlen(REAL_VALID) - 2); /* cuts the subject */
    cr_assert_eq(cadb_next(&it, &e, &ln), 1);
    expect_subject(&e, "/CN=host 7.example/O=Acme Co");
    cr_assert_eq(cadb_next(&it, &e, &ln), 0);
}

Test(cadb, iter_null_lineno_and_whole_real_file)
{
    /* The whole index.txt as openssl wrote it, in order. */
    static const char db[] =
        REAL_PLAIN "\n" REAL_KEYCOMP "\n" REAL_KEYTIME "\n" REAL_HOLD_NAME "\n" REAL_CAKEYTIME
                   "\n" REAL_REMOVE "\n" REAL_VALID "\n" REAL_VALID_GEN "\n" REAL_HOLD_OID
                   "\n" REAL_UNSPEC "\n" REAL_CACOMP "\n" REAL_AFFIL "\n" REAL_SUPERSEDED
                   "\n" REAL_CESSATION "\n" REAL_CERTHOLD "\n" REAL_EXPIRED "\n" REAL_ESCAPED "\n";
    static const enum store_status want[] = {
        STORE_REVOKED, STORE_REVOKED, STORE_REVOKED, STORE_HOLD,    STORE_REVOKED, STORE_GOOD,
        STORE_GOOD,    STORE_GOOD,    STORE_HOLD,    STORE_REVOKED, STORE_REVOKED, STORE_REVOKED,
        STORE_REVOKED, STORE_REVOKED, STORE_HOLD,    STORE_GOOD,    STORE_GOOD,
    };
    struct cadb_iter it;
    struct cadb_entry e;
    size_t n = 0;
    int r;
    cadb_iter_init(&it, db, sizeof(db) - 1);
    while ((r = cadb_next(&it, &e, NULL)) == 1) {
        cr_assert_lt(n, sizeof(want) / sizeof(want[0]));
        cr_assert_eq(e.status, want[n], "entry %zu", n);
        n++;
    }
    cr_assert_eq(r, 0);
    cr_assert_eq(n, sizeof(want) / sizeof(want[0]));
}
