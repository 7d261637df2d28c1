/*
 * signproto — encoding and strict parsing of the responder/signer frames
 * (layout in signproto.h and docs/signer.md). Integers are big-endian; every
 * read goes through a struct cur that checks the remaining length first, and a
 * frame is accepted only when its announced length is exactly its content.
 */
#include "signproto.h"

#include <errno.h>
#include <string.h>

#define SIGNPROTO_HEAD 6 /* version, type, id */

static uint64_t sp_get_be(struct cur *c, size_t n)
{
    uint64_t v = 0;
    if (c->err || cur_left(c) < n) {
        cur_fail(c);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        v = v << 8 | c->p[i];
    c->p += n;
    return v;
}

static const uint8_t *sp_get_bytes(struct cur *c, size_t n)
{
    if (c->err || cur_left(c) < n) {
        cur_fail(c);
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += n;
    return p;
}

/* A bounded writer; overflow is sticky. */
struct sp_w {
    uint8_t *p;
    size_t len, cap;
    bool err;
};

static void sp_put(struct sp_w *w, const void *s, size_t n)
{
    if (w->err || w->cap - w->len < n) {
        w->err = true;
        return;
    }
    if (n)
        memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void sp_put_be(struct sp_w *w, uint64_t v, size_t n)
{
    uint8_t b[8];
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    sp_put(w, b, n);
}

static size_t sp_hash_len(uint8_t hash)
{
    return hash == 1 ? 20 : hash == 2 ? 32 : 0;
}

/* Fills the length prefix once the body is written. */
static int sp_finish(struct sp_w *w)
{
    if (w->err)
        return -ENOSPC;
    size_t body = w->len - SIGNPROTO_LEN_BYTES;
    if (body == 0 || body > SIGNPROTO_BODY_MAX)
        return -EINVAL;
    for (size_t i = 0; i < SIGNPROTO_LEN_BYTES; i++)
        w->p[i] = (uint8_t)(body >> (8 * (SIGNPROTO_LEN_BYTES - 1 - i)));
    return (int)w->len;
}

static void sp_head(struct sp_w *w, uint8_t type, uint32_t id)
{
    sp_put_be(w, 0, SIGNPROTO_LEN_BYTES); /* patched by sp_finish */
    sp_put_be(w, SIGNPROTO_VERSION, 1);
    sp_put_be(w, type, 1);
    sp_put_be(w, id, 4);
}

int signproto_frame(const uint8_t *buf, size_t len, size_t *frame_len)
{
    if (len < SIGNPROTO_LEN_BYTES)
        return -EAGAIN;
    uint32_t body =
        (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
    if (body < SIGNPROTO_HEAD || body > SIGNPROTO_BODY_MAX)
        return -EMSGSIZE;
    if (len - SIGNPROTO_LEN_BYTES < body)
        return -EAGAIN;
    *frame_len = SIGNPROTO_LEN_BYTES + (size_t)body;
    return 0;
}

int signproto_put_req(uint8_t *buf, size_t cap, const struct signproto_req *r)
{
    struct sp_w w = {buf, 0, cap, false};
    if (r->n == 0 || r->n > SIGNPROTO_CERTS_MAX || r->nonce_len > SIGNPROTO_NONCE_MAX)
        return -EINVAL;
    sp_head(&w, SIGNPROTO_SIGN, r->id);
    sp_put_be(&w, r->nonce_len, 1);
    sp_put(&w, r->nonce, r->nonce_len);
    sp_put_be(&w, r->n, 1);
    for (unsigned i = 0; i < r->n; i++) {
        const struct signproto_certid *c = &r->ids[i];
        size_t hl = sp_hash_len(c->hash);
        if (hl == 0 || c->serial_len == 0 || c->serial_len > SIGNPROTO_SERIAL_MAX)
            return -EINVAL;
        sp_put_be(&w, c->hash, 1);
        sp_put(&w, c->name_hash, hl);
        sp_put(&w, c->key_hash, hl);
        sp_put_be(&w, c->serial_len, 1);
        sp_put(&w, c->serial, c->serial_len);
    }
    return sp_finish(&w);
}

int signproto_put_resp(uint8_t *buf, size_t cap, const struct signproto_resp *r)
{
    struct sp_w w = {buf, 0, cap, false};
    if (r->status != 0 && r->der_len != 0)
        return -EINVAL;
    sp_head(&w, SIGNPROTO_RESULT, r->id);
    sp_put_be(&w, r->status, 1);
    sp_put_be(&w, r->flags, 1);
    sp_put_be(&w, (uint64_t)r->this_update, 8);
    sp_put_be(&w, (uint64_t)r->next_update, 8);
    sp_put(&w, r->der, r->der_len);
    return sp_finish(&w);
}

/* The frame's header: exact length, our version. Leaves c at the payload. */
static int sp_open(const uint8_t *frame, size_t len, struct cur *c, uint8_t *type, uint32_t *id)
{
    size_t flen;
    if (signproto_frame(frame, len, &flen) < 0 || flen != len)
        return -EBADMSG;
    cur_init(c, frame + SIGNPROTO_LEN_BYTES, len - SIGNPROTO_LEN_BYTES);
    uint8_t version = (uint8_t)sp_get_be(c, 1);
    *type = (uint8_t)sp_get_be(c, 1);
    *id = (uint32_t)sp_get_be(c, 4);
    if (c->err || version != SIGNPROTO_VERSION)
        return -EBADMSG;
    return 0;
}

int signproto_peek_type(const uint8_t *frame, size_t len, uint8_t *type_out)
{
    struct cur c;
    uint32_t id;
    return sp_open(frame, len, &c, type_out, &id);
}

int signproto_parse_req(const uint8_t *frame, size_t len, struct signproto_req *r)
{
    struct cur c;
    uint8_t type;
    memset(r, 0, sizeof(*r));
    if (sp_open(frame, len, &c, &type, &r->id) < 0 || type != SIGNPROTO_SIGN)
        return -EBADMSG;
    r->nonce_len = (uint8_t)sp_get_be(&c, 1);
    if (r->nonce_len > SIGNPROTO_NONCE_MAX)
        return -EBADMSG;
    const uint8_t *p = sp_get_bytes(&c, r->nonce_len);
    if (!p)
        return -EBADMSG;
    memcpy(r->nonce, p, r->nonce_len);
    r->n = (uint8_t)sp_get_be(&c, 1);
    if (c.err || r->n == 0 || r->n > SIGNPROTO_CERTS_MAX)
        return -EBADMSG;
    for (unsigned i = 0; i < r->n; i++) {
        struct signproto_certid *id = &r->ids[i];
        id->hash = (uint8_t)sp_get_be(&c, 1);
        size_t hl = sp_hash_len(id->hash);
        if (c.err || hl == 0)
            return -EBADMSG;
        const uint8_t *nh = sp_get_bytes(&c, hl), *kh = sp_get_bytes(&c, hl);
        id->serial_len = (uint8_t)sp_get_be(&c, 1);
        if (!nh || !kh || c.err || id->serial_len == 0 || id->serial_len > SIGNPROTO_SERIAL_MAX)
            return -EBADMSG;
        const uint8_t *sp = sp_get_bytes(&c, id->serial_len);
        if (!sp || der_serial_check(sp, id->serial_len) < 0)
            return -EBADMSG;
        memcpy(id->name_hash, nh, hl);
        memcpy(id->key_hash, kh, hl);
        memcpy(id->serial, sp, id->serial_len);
    }
    return cur_done(&c) ? 0 : -EBADMSG;
}

int signproto_parse_resp(const uint8_t *frame, size_t len, struct signproto_resp *r)
{
    struct cur c;
    uint8_t type;
    memset(r, 0, sizeof(*r));
    if (sp_open(frame, len, &c, &type, &r->id) < 0 || type != SIGNPROTO_RESULT)
        return -EBADMSG;
    r->status = (uint8_t)sp_get_be(&c, 1);
    r->flags = (uint8_t)sp_get_be(&c, 1);
    r->this_update = (int64_t)sp_get_be(&c, 8);
    r->next_update = (int64_t)sp_get_be(&c, 8);
    if (c.err)
        return -EBADMSG;
    r->der_len = cur_left(&c);
    r->der = c.p;
    /* An error status carries no DER; a success carries an OCSPResponse SEQUENCE. */
    if (r->status == 0 ? r->der_len < 2 || r->der[0] != DER_SEQUENCE : r->der_len != 0)
        return -EBADMSG;
    if (r->status > 6 || r->status == 4 || (r->flags & ~SIGNPROTO_F_UNLISTED))
        return -EBADMSG;
    return 0;
}
