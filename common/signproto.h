/*
 * signproto — the wire protocol between revokd-responder and revokd-signer
 * (docs/signer.md): length-prefixed, versioned frames over a Unix stream
 * socket. The responder asks "sign an answer for these CertIDs (and echo this
 * nonce)"; the request carries no status, so the signer answers from the store
 * alone and a compromised responder can only ask for the truth. Both sides link
 * this module; it encodes and parses only (no I/O, no keys), and the parsers
 * take untrusted bytes through struct cur, so each has a libFuzzer target
 * (tests/fuzz/fuzz_signproto.c).
 *
 * Frame: u32 big-endian body length, then the body:
 *   version u8 (SIGNPROTO_VERSION) | type u8 | id u32be | payload
 * SIGN   payload: nonce_len u8 | nonce | n u8 (1..SIGNPROTO_CERTS_MAX) | n CertIDs
 *        CertID:  hash u8 (1 SHA-1, 2 SHA-256) | issuerNameHash | issuerKeyHash
 *                 (20 or 32 bytes each) | serial_len u8 (1..32) | serial (INTEGER content)
 * RESULT payload: ocsp_status u8 | flags u8 | this_update i64be | next_update i64be |
 *                 the OCSPResponse DER (the rest of the body; empty unless status 0)
 */
#ifndef REVOKD_SIGNPROTO_H
#define REVOKD_SIGNPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "der.h"

#define SIGNPROTO_VERSION   1
#define SIGNPROTO_LEN_BYTES 4
/* Largest body either side accepts: a response for SIGNPROTO_CERTS_MAX CertIDs
 * with an RSA-4096 signer certificate fits with room to spare. */
#define SIGNPROTO_BODY_MAX  32768
#define SIGNPROTO_FRAME_MAX (SIGNPROTO_LEN_BYTES + SIGNPROTO_BODY_MAX)
/* The nonce is the request's extnValue contents, passed verbatim so the echo is
 * byte-exact: a 128-octet value (RFC 9654) wrapped in an OCTET STRING is 131. */
#define SIGNPROTO_NONCE_MAX  160
#define SIGNPROTO_CERTS_MAX  64
#define SIGNPROTO_HASH_MAX   32
#define SIGNPROTO_SERIAL_MAX DER_SERIAL_MAX

enum signproto_type { SIGNPROTO_SIGN = 1, SIGNPROTO_RESULT = 2 };

/* RESULT flags. SIGNPROTO_F_UNLISTED: no CertID is in the store (a cacheable answer). */
#define SIGNPROTO_F_UNLISTED 0x1

struct signproto_certid {
    uint8_t hash; /* enum store_hash */
    uint8_t name_hash[SIGNPROTO_HASH_MAX], key_hash[SIGNPROTO_HASH_MAX];
    uint8_t serial[SIGNPROTO_SERIAL_MAX];
    uint8_t serial_len;
};

struct signproto_req {
    uint32_t id;
    uint8_t nonce_len; /* 0: no nonce */
    uint8_t nonce[SIGNPROTO_NONCE_MAX];
    uint8_t n;
    struct signproto_certid ids[SIGNPROTO_CERTS_MAX];
};

struct signproto_resp {
    uint32_t id;
    uint8_t status; /* enum ocsp_resp_status */
    uint8_t flags;  /* SIGNPROTO_F_* */
    int64_t this_update, next_update;
    const uint8_t *der; /* points into the parsed frame */
    size_t der_len;
};

/*
 * Looks at the front of a byte stream: 0 with *frame_len (prefix included) when
 * one whole frame is there, -EAGAIN when more bytes are needed, -EMSGSIZE when
 * the announced body is empty or over SIGNPROTO_BODY_MAX (the stream is then
 * unusable: close it).
 */
int signproto_frame(const uint8_t *buf, size_t len, size_t *frame_len);

/* Encode one frame into buf (cap bytes). Return the frame length or -ENOSPC/-EINVAL. */
int signproto_put_req(uint8_t *buf, size_t cap, const struct signproto_req *r);
int signproto_put_resp(uint8_t *buf, size_t cap, const struct signproto_resp *r);

/*
 * Parse one whole frame (as signproto_frame measured it). 0, or -EBADMSG for
 * anything but a strict frame of that type: another version, a length that does
 * not match, a hash algorithm other than SHA-1/SHA-256, a serial that is not
 * minimal positive INTEGER content, a nonce or CertID count out of bounds,
 * trailing bytes. *type_out gets the type when the header parsed.
 */
int signproto_peek_type(const uint8_t *frame, size_t len, uint8_t *type_out);
int signproto_parse_req(const uint8_t *frame, size_t len, struct signproto_req *r);
int signproto_parse_resp(const uint8_t *frame, size_t len, struct signproto_resp *r);

#endif
