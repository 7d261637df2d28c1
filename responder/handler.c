/*
 * handler — routing and response formatting for the responder. An OCSP request
 * becomes one store get keyed by its CertID; the answer is the pre-signed DER
 * straight from the LMDB map (the stored bytes, then the signer's certificate
 * block the store keeps once per signer), or one of the fixed 5-byte OCSP error responses
 * (over HTTP 200, as RFC 6960 responders do). Everything here runs per request
 * on the hot path, so headers are formatted by hand into the caller's buffer
 * (no snprintf, no strftime and its locale, no allocation) and the only state
 * touched is the counters and the batch's read txn.
 */
#include "handler.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "der.h"
#include "ocsp.h"

/* Path suffixes tried for an RFC 5019 GET behind a path prefix ("/ocsp/MEIw..."). */
#define HANDLER_GET_TRIES 8

static const char handler_ct_ocsp[] = "application/ocsp-response";
static const char handler_ct_crl[] = "application/pkix-crl";
static const char handler_ct_text[] = "text/plain; charset=utf-8";
static const char handler_ct_metrics[] = "text/plain; version=0.0.4; charset=utf-8";
static const char handler_ct_json[] = "application/json";
static const char handler_ct_ocsp_req[] = "application/ocsp-request";

/* The JSON status API's path prefix: /api/v1/status/{issuer}/{serial-hex}. */
static const char handler_api_prefix[] = "/api/v1/status/";

/* A bounded writer into a caller's buffer; overflow is sticky. */
struct handler_w {
    char *p;
    size_t len, cap;
    bool err;
};

static void handler_w_mem(struct handler_w *w, const void *s, size_t n)
{
    if (w->err || w->cap - w->len < n) {
        w->err = true;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void handler_w_str(struct handler_w *w, const char *s)
{
    handler_w_mem(w, s, strlen(s));
}

/* handler_w_str() of a string literal: its length is known at compile time. */
#define handler_w_lit(w, lit) handler_w_mem((w), "" lit, sizeof(lit) - 1)

static void handler_w_u64(struct handler_w *w, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    handler_w_mem(w, tmp + i, sizeof(tmp) - i);
}

/* Decimal with at least `width` digits (zero-padded). */
static void handler_w_udec(struct handler_w *w, unsigned v, unsigned width)
{
    char tmp[10];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v || sizeof(tmp) - i < width);
    handler_w_mem(w, tmp + i, sizeof(tmp) - i);
}

static void handler_w_hex(struct handler_w *w, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n && !w->err; i++) {
        char two[2] = {digits[p[i] >> 4], digits[p[i] & 15]};
        handler_w_mem(w, two, 2);
    }
}

static void handler_w_i64(struct handler_w *w, int64_t v)
{
    if (v < 0)
        handler_w_str(w, "-");
    handler_w_u64(w, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

/* Civil UTC fields of a time both date formats below write. */
struct handler_civil {
    int y, mo, d, h, mi, s;
};

/*
 * Clamps t into 1970-01-01T00:00:00Z..9999-12-31T23:59:59Z, the span both formats
 * can write (four year digits, no sign), and breaks it into c. Returns the
 * clamped t (the weekday is computed from it).
 */
static int64_t handler_civil(int64_t t, struct handler_civil *c)
{
    if (t < 0)
        t = 0;
    if (t > 253402300799)
        t = 253402300799;
    der_time_civil(t, &c->y, &c->mo, &c->d, &c->h, &c->mi, &c->s);
    return t;
}

/* "08:49:37": the time of day, written alike by both formats. */
static void handler_w_hms(struct handler_w *w, const struct handler_civil *c)
{
    handler_w_udec(w, (unsigned)c->h, 2);
    handler_w_str(w, ":");
    handler_w_udec(w, (unsigned)c->mi, 2);
    handler_w_str(w, ":");
    handler_w_udec(w, (unsigned)c->s, 2);
}

/* IMF-fixdate (RFC 9110 5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT". */
static void handler_w_date(struct handler_w *w, int64_t t)
{
    static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct handler_civil c;
    t = handler_civil(t, &c);
    handler_w_mem(w, wdays[(t / 86400 + 4) % 7], 3); /* 1970-01-01 was a Thursday */
    handler_w_str(w, ", ");
    handler_w_udec(w, (unsigned)c.d, 2);
    handler_w_str(w, " ");
    handler_w_mem(w, months[(c.mo - 1) % 12], 3);
    handler_w_str(w, " ");
    handler_w_udec(w, (unsigned)c.y, 4);
    handler_w_str(w, " ");
    handler_w_hms(w, &c);
    handler_w_str(w, " GMT");
}

/* Reason phrases, each with the newline that makes it an error body too. */
static const char *handler_reason(int status)
{
    static const struct {
        int status;
        const char *text;
    } reasons[] = {
        {200, "OK\n"},
        {304, "Not Modified\n"},
        {400, "Bad Request\n"},
        {404, "Not Found\n"},
        {405, "Method Not Allowed\n"},
        {411, "Length Required\n"},
        {413, "Content Too Large\n"},
        {414, "URI Too Long\n"},
        {415, "Unsupported Media Type\n"},
        {417, "Expectation Failed\n"},
        {431, "Request Header Fields Too Large\n"},
        {500, "Internal Server Error\n"},
        {501, "Not Implemented\n"},
        {503, "Service Unavailable\n"},
        {505, "HTTP Version Not Supported\n"},
    };
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].status == status)
            return reasons[i].text;
    }
    return "Error\n";
}

/* Freshness headers for a cacheable GET answer (OCSP per RFC 5019 6.2, or a CRL). */
struct handler_cache {
    int64_t this_update, next_update;
    const uint8_t *etag; /* STORE_ETAG_LEN bytes: the stored SHA-256 prefix of the body */
};

/* Everything about one response except the status line, which is derived. */
struct handler_resp {
    int status;
    const char *ctype;
    const uint8_t *body;
    size_t body_len;
    const uint8_t *tail; /* sent after body (an OCSP response's signer block), or NULL */
    size_t tail_len;
    const struct handler_cache *cache; /* or NULL */
    bool no_store;                     /* OCSP errors over GET: never cache them */
    const char *allow;                 /* for 405, or NULL */
    const char *extra;                 /* more header lines, each ending in CRLF, or NULL */
    bool not_modified;                 /* 304: cache headers only, no content fields or body */
    bool close;                        /* close regardless of what the client asked */
    const uint8_t *body_key;           /* http_out.body_key */
};

static void handler_count(struct handler *h, const struct http_req *req, enum handler_result r)
{
    unsigned m = req ? (unsigned)req->method : HTTP_OTHER;
    h->requests[m < HANDLER_METHODS ? m : HTTP_OTHER][r]++;
}

static int handler_emit(struct handler *h, const struct http_req *req, const struct handler_resp *r,
                        struct http_out *out)
{
    struct handler_w w = {(char *)out->hdr, 0, out->hdr_cap, false};
    bool nobody = r->not_modified || (req && req->method == HTTP_HEAD);
    bool close = r->close || !req || !req->keep_alive;
    int status = r->not_modified ? 304 : r->status;

    handler_w_lit(&w, "HTTP/1.1 ");
    handler_w_udec(&w, (unsigned)status, 3);
    handler_w_lit(&w, " ");
    const char *reason = handler_reason(status);
    handler_w_mem(&w, reason, strlen(reason) - 1);
    handler_w_lit(&w, "\r\nDate: ");
    if (h->date_at != h->now || h->date_len == 0) {
        /* Formatted once per second, not per response: every answer carries it. */
        struct handler_w dw = {h->date, 0, sizeof(h->date), false};
        handler_w_date(&dw, h->now);
        h->date_len = dw.err ? 0 : dw.len;
        h->date_at = h->now;
    }
    handler_w_mem(&w, h->date, h->date_len);
    handler_w_lit(&w, "\r\n");
    if (!r->not_modified) {
        /* A 304 has no content; RFC 9110 15.4.5 asks only for the validators and
         * caching fields, and a Content-Length there would have to be the 200's. */
        handler_w_lit(&w, "Content-Type: ");
        handler_w_str(&w, r->ctype);
        handler_w_lit(&w, "\r\nContent-Length: ");
        handler_w_u64(&w, r->body_len + r->tail_len);
        handler_w_lit(&w, "\r\n");
    }
    if (r->cache) {
        const struct handler_cache *c = r->cache;
        int64_t left = c->next_update - h->now;
        uint64_t age = left > 0 ? (uint64_t)left : 0;
        if (age > h->max_age)
            age = h->max_age;
        handler_w_lit(&w, "Cache-Control: max-age=");
        handler_w_u64(&w, age);
        handler_w_lit(&w, ", public, no-transform, must-revalidate\r\nLast-Modified: ");
        handler_w_date(&w, c->this_update);
        handler_w_lit(&w, "\r\nExpires: ");
        handler_w_date(&w, c->next_update);
        /* A strong validator (RFC 9110 8.8.3) must change whenever the bytes do:
         * a hash of the body (RFC 5019 6.2), computed when it was stored. */
        handler_w_lit(&w, "\r\nETag: \"");
        handler_w_hex(&w, c->etag, STORE_ETAG_LEN);
        handler_w_lit(&w, "\"\r\n");
    } else if (r->no_store) {
        handler_w_lit(&w, "Cache-Control: no-store\r\n");
    }
    if (r->allow) {
        handler_w_lit(&w, "Allow: ");
        handler_w_str(&w, r->allow);
        handler_w_lit(&w, "\r\n");
    }
    if (r->extra)
        handler_w_str(&w, r->extra);
    if (close)
        handler_w_lit(&w, "Connection: close\r\n");
    else if (req->minor == 0)
        handler_w_lit(&w, "Connection: keep-alive\r\n"); /* 1.0 clients need it said */
    handler_w_lit(&w, "\r\n");
    if (w.err)
        return -ENOSPC;

    out->hdr_len = w.len;
    out->body = nobody ? NULL : r->body;
    out->body_len = nobody ? 0 : r->body_len;
    out->tail = nobody ? NULL : r->tail;
    out->tail_len = nobody ? 0 : r->tail_len;
    out->body_key = nobody ? NULL : r->body_key;
    out->status = status;
    out->close = close;
    return 0;
}

static int handler_text(struct handler *h, const struct http_req *req, int status, const char *text,
                        const char *allow, bool close, struct http_out *out)
{
    struct handler_resp r = {.status = status,
                             .ctype = handler_ct_text,
                             .body = (const uint8_t *)text,
                             .body_len = strlen(text),
                             .allow = allow,
                             .close = close};
    return handler_emit(h, req, &r, out);
}

/* The read txn for this batch, renewed on first use; NULL if unavailable. */
static struct store_txn *handler_txn(struct handler *h)
{
    if (!h->store)
        return NULL;
    if (!h->txn_live && !h->txn_failed) {
        int rc = h->txn_open ? store_txn_renew(&h->txn) : -EBADF;
        if (rc < 0) {
            /* A failed renew may leave no txn behind (the map was resized): start over. */
            if (h->txn_open)
                store_txn_abort(&h->txn);
            rc = store_txn_begin(h->store, &h->txn, true);
            h->txn_open = rc == 0;
        }
        h->txn_live = rc == 0;
        h->txn_failed = rc < 0; /* once per batch is enough to find out */
    }
    return h->txn_live ? &h->txn : NULL;
}

/*
 * True while now <= nextUpdate, exactly: at nextUpdate + 1 ns the response has
 * expired (RFC 6960 2.4), so the clock is not truncated to seconds first.
 * Compared as seconds and a remainder, since nextUpdate * 1e9 can overflow.
 */
static bool handler_fresh(const struct handler *h, int64_t next_update)
{
    int64_t sub = h->now_ns - h->now * 1000000000;
    return h->now < next_update || (h->now == next_update && sub == 0);
}

/*
 * Conditional GET (RFC 9110 13.1, 13.2.2): true if the client's cached copy of
 * the answer described by c is current, so a 304 replaces the 200. If-None-Match
 * takes precedence: when present, If-Modified-Since is not looked at. An
 * If-Modified-Since that is not one valid HTTP-date, comes twice, or lies in
 * the future (RFC 9110 13.1.3) is ignored.
 */
static bool handler_not_modified(const struct handler *h, const struct http_req *req,
                                 const struct handler_cache *c)
{
    if (req->method != HTTP_GET && req->method != HTTP_HEAD)
        return false;
    if (req->n_if_none_match) {
        if (req->n_if_none_match > HTTP_INM_MAX)
            return false; /* not all kept: answer in full, which is never wrong */
        static const char digits[] = "0123456789abcdef";
        char tag[2 * STORE_ETAG_LEN];
        for (size_t i = 0; i < STORE_ETAG_LEN; i++) {
            tag[2 * i] = digits[c->etag[i] >> 4];
            tag[2 * i + 1] = digits[c->etag[i] & 15];
        }
        for (unsigned i = 0; i < req->n_if_none_match; i++) {
            if (http_etag_list_match(req->if_none_match[i], req->if_none_match_len[i], tag,
                                     sizeof(tag)))
                return true;
        }
        return false;
    }
    int64_t ims;
    if (req->n_if_modified_since != 1 ||
        http_date_parse(req->if_modified_since, req->if_modified_since_len, &ims) < 0 ||
        ims > h->now)
        return false;
    return c->this_update <= ims;
}

static int handler_ocsp_status(struct handler *h, const struct http_req *req, bool get,
                               enum ocsp_resp_status st, enum handler_result res,
                               struct http_out *out)
{
    size_t len;
    const uint8_t *der = ocsp_error_response(st, &len);
    struct handler_resp r = {
        .status = 200, .ctype = handler_ct_ocsp, .body = der, .body_len = len, .no_store = get};
    handler_count(h, req, res);
    return handler_emit(h, req, &r, out);
}

/* The live policy of the issuer a CertID names, or NULL (not ours, or no policy). */
static const struct handler_live_issuer *handler_live_issuer(struct handler *h, struct store_txn *t,
                                                             const struct ocsp_certid *id,
                                                             uint32_t *issuer_id)
{
    const struct store_issuer_rec *rec;
    const uint8_t *cert;
    if (store_issuer_by_hash(t, (enum store_hash)id->hash, id->name_hash, id->key_hash, issuer_id) <
            0 ||
        store_get_issuer(t, *issuer_id, &rec, &cert) < 0)
        return NULL;
    const struct handler_live *p = h->live_policy;
    for (size_t i = 0; i < p->n; i++) {
        if (strncmp(p->iss[i].name, rec->name, STORE_NAME_MAX) == 0)
            return &p->iss[i];
    }
    return NULL;
}

/* Fills h->live_req from every CertID and the nonce of o. -EBADMSG if it cannot be. */
static int handler_live_fill(struct handler *h, const struct ocsp_req *o, bool with_nonce)
{
    struct ocsp_certid ids[SIGNPROTO_CERTS_MAX];
    struct signproto_req *r = &h->live_req;
    int n = ocsp_req_certids(o, ids, SIGNPROTO_CERTS_MAX);
    if (n <= 0 || (unsigned)n != o->n_certs)
        return -EBADMSG;
    r->id = 0;
    r->n = (uint8_t)n;
    r->nonce_len = 0;
    if (with_nonce && o->nonce) {
        if (o->nonce_len > SIGNPROTO_NONCE_MAX)
            return -EBADMSG;
        memcpy(r->nonce, o->nonce, o->nonce_len);
        r->nonce_len = (uint8_t)o->nonce_len;
    }
    for (int i = 0; i < n; i++) {
        struct signproto_certid *c = &r->ids[i];
        if (ids[i].hash == 0 || ids[i].serial_len > SIGNPROTO_SERIAL_MAX)
            return -EBADMSG;
        c->hash = (uint8_t)ids[i].hash;
        memcpy(c->name_hash, ids[i].name_hash, ids[i].hash_len);
        memcpy(c->key_hash, ids[i].key_hash, ids[i].hash_len);
        memcpy(c->serial, ids[i].serial, ids[i].serial_len);
        c->serial_len = (uint8_t)ids[i].serial_len;
    }
    return 0;
}

/* Answers one OCSP request given as DER; get adds the RFC 5019 caching headers. */
static int handler_ocsp_der(struct handler *h, const struct http_req *req, const struct ocsp_req *o,
                            bool get, struct http_out *out)
{
    const bool live = h->live_policy != NULL;
    if (o->n_certs != 1 && !live) /* pre-signed responses carry exactly one SingleResponse */
        return handler_ocsp_status(h, req, get, OCSP_MALFORMED_REQUEST, HANDLER_R_MALFORMED, out);
    if (o->id.hash == 0)
        return handler_ocsp_status(h, req, get, OCSP_UNAUTHORIZED, HANDLER_R_UNAUTHORIZED, out);
    struct store_txn *t = handler_txn(h);
    if (!t)
        return handler_ocsp_status(h, req, get, OCSP_TRY_LATER, HANDLER_R_TRYLATER, out);
    /* --- live signing hook (docs/signer.md): several CertIDs, an echoed nonce --- */
    if (live && o->n_certs != 1) { /* one signed response answers them all */
        /* Every CertID ours, checked here, so foreign ones cost the signer nothing. */
        bool ours = handler_live_fill(h, o, true) == 0;
        for (unsigned i = 0; ours && i < h->live_req.n; i++) {
            const struct signproto_certid *c = &h->live_req.ids[i];
            struct ocsp_certid one = {.hash = c->hash,
                                      .name_hash = c->name_hash,
                                      .key_hash = c->key_hash,
                                      .hash_len = store_hash_len((enum store_hash)c->hash)};
            uint32_t iid;
            ours = handler_live_issuer(h, t, &one, &iid) != NULL;
        }
        if (!ours)
            return handler_ocsp_status(h, req, get, OCSP_UNAUTHORIZED, HANDLER_R_UNAUTHORIZED, out);
        return HANDLER_LIVE;
    }
    const struct handler_live_issuer *lp = NULL;
    uint32_t issuer_id = 0;
    if (live && o->nonce && h->live_policy->any_echo) {
        lp = handler_live_issuer(h, t, &o->id, &issuer_id);
        if (lp && lp->nonce_echo)
            return handler_live_fill(h, o, true) < 0
                       ? handler_ocsp_status(h, req, get, OCSP_UNAUTHORIZED, HANDLER_R_UNAUTHORIZED,
                                             out)
                       : HANDLER_LIVE;
    }

    struct store_resp sr;
    const struct ocsp_certid *id = &o->id;
    int rc = store_get_response(t, (enum store_hash)id->hash, id->name_hash, id->key_hash,
                                id->serial, id->serial_len, &sr);
    if (rc == -ENOENT && live) {
        /* --- live signing hook: a miss. Ours and listed (its response missing), or
         * ours and never listed with a policy that signs: the signer decides what. */
        if (!lp)
            lp = handler_live_issuer(h, t, id, &issuer_id);
        struct store_cert c;
        if (lp && (lp->unknown == HANDLER_UNKNOWN_LIVE ||
                   store_get_cert(t, issuer_id, id->serial, id->serial_len, &c) == 0))
            return handler_live_fill(h, o, false) < 0
                       ? handler_ocsp_status(h, req, get, OCSP_UNAUTHORIZED, HANDLER_R_UNAUTHORIZED,
                                             out)
                       : HANDLER_LIVE;
    }
    if (rc == -ENOENT)
        return handler_ocsp_status(h, req, get, OCSP_UNAUTHORIZED, HANDLER_R_UNAUTHORIZED, out);
    if (rc < 0)
        return handler_ocsp_status(h, req, get, OCSP_INTERNAL_ERROR, HANDLER_R_INTERNAL, out);
    /* LMDB aligns values to 2 bytes only: copy the header rather than dereference it. */
    struct store_resp_hdr rh;
    rh = *sr.hdr;
    /* --- live signing hook: stale or nearly so, signed afresh rather than served --- */
    if (live && (int64_t)rh.next_update * 1000000000 - h->now_ns < h->live_policy->margin_ns &&
        handler_live_fill(h, o, false) == 0)
        return HANDLER_LIVE;
    if (!handler_fresh(h, rh.next_update)) {
        /* The indexer fell behind: an expired answer is worse than none. */
        h->stale++;
        return handler_ocsp_status(h, req, get, OCSP_TRY_LATER, HANDLER_R_TRYLATER, out);
    }

    struct handler_cache cache = {rh.this_update, rh.next_update, sr.hdr->etag};
    struct handler_resp r = {.status = 200,
                             .ctype = handler_ct_ocsp,
                             .body = sr.der,
                             .body_len = sr.der_len,
                             .tail = sr.tail,
                             .tail_len = sr.tail_len,
                             .cache = get ? &cache : NULL,
                             .not_modified = get && handler_not_modified(h, req, &cache),
                             .body_key = sr.hdr->etag};
    handler_count(h, req, HANDLER_R_OK);
    rc = handler_emit(h, req, &r, out);
    if (rc == 0 && out->body_len)
        h->ocsp_bytes += sr.der_len + sr.tail_len;
    return rc;
}

static int handler_ocsp_post(struct handler *h, const struct http_req *req, const uint8_t *body,
                             size_t body_len, struct http_out *out)
{
    struct ocsp_req o;
    if (ocsp_req_parse(body, body_len, &o) < 0)
        return handler_ocsp_status(h, req, false, OCSP_MALFORMED_REQUEST, HANDLER_R_MALFORMED, out);
    return handler_ocsp_der(h, req, &o, false, out);
}

/*
 * RFC 5019 GET: the request is the last path segment(s). The responder URL may
 * carry a path of its own and base64 contains '/', so try the whole path, then
 * each suffix after a '/', and take the first that is a strict DER request.
 */
static int handler_ocsp_get(struct handler *h, const struct http_req *req, const char *path,
                            size_t len, struct http_out *out)
{
    uint8_t der[OCSP_REQ_MAX];
    struct ocsp_req o;
    const char *s = path + 1, *end = path + len;
    for (unsigned i = 0; i < HANDLER_GET_TRIES && s < end; i++) {
        ssize_t n = http_b64_path_decode(s, (size_t)(end - s), der, sizeof(der));
        if (n > 0 && ocsp_req_parse(der, (size_t)n, &o) == 0)
            return handler_ocsp_der(h, req, &o, true, out);
        const char *slash = memchr(s, '/', (size_t)(end - s));
        if (!slash)
            break;
        s = slash + 1;
    }
    return handler_ocsp_status(h, req, true, OCSP_MALFORMED_REQUEST, HANDLER_R_MALFORMED, out);
}

static bool handler_name_ok(const char *s, size_t n)
{
    if (n == 0 || n >= STORE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/*
 * GET /crl/<issuer>.crl: the issuer's current full CRL; GET
 * /crl/delta/<issuer>.crl: its current delta CRL; /crl/shard/<issuer>/K.crl
 * and /crl/delta/shard/<issuer>/K.crl: shard K of a partitioned issuer (the
 * same layout as crlgen's out_dir, so one base URL serves all). Issuer names
 * cannot contain '/', so the kinds never collide.
 */
static int handler_crl(struct handler *h, const struct http_req *req, const char *path, size_t len,
                       struct http_out *out)
{
    static const char pre[] = "/crl/", pre_delta[] = "/crl/delta/", suf[] = ".crl";
    size_t plen = sizeof(pre) - 1;
    const size_t slen = sizeof(suf) - 1;
    enum store_crl_kind kind = STORE_CRL_FULL;
    char name[STORE_NAME_MAX];
    if (len > sizeof(pre_delta) - 1 && memcmp(path, pre_delta, sizeof(pre_delta) - 1) == 0) {
        plen = sizeof(pre_delta) - 1;
        kind = STORE_CRL_DELTA;
    }
    static const char shard_pre[] = "shard/";
    const size_t shlen = sizeof(shard_pre) - 1;
    uint32_t shard = 0;
    if (len <= plen + slen || memcmp(path + len - slen, suf, slen) != 0)
        goto not_found;
    const char *nm = path + plen;
    size_t nlen = len - plen - slen;
    if (nlen > shlen && memcmp(nm, shard_pre, shlen) == 0) {
        /* shard/NAME/K: K is 1..65535 in decimal without leading zeros. */
        const char *sl = memrchr(nm, '/', nlen);
        const char *k = sl + 1, *end = nm + nlen;
        if (sl == nm + shlen - 1 || k == end || *k == '0' || end - k > 5)
            goto not_found;
        for (const char *c = k; c < end; c++) {
            if (*c < '0' || *c > '9')
                goto not_found;
            shard = shard * 10 + (uint32_t)(*c - '0');
        }
        if (shard > UINT16_MAX)
            goto not_found;
        nm += shlen;
        nlen = (size_t)(sl - nm);
    }
    if (!handler_name_ok(nm, nlen))
        goto not_found;
    memcpy(name, nm, nlen);
    name[nlen] = '\0';

    struct store_txn *t = handler_txn(h);
    if (!t) {
        handler_count(h, req, HANDLER_R_HTTP_ERROR);
        return handler_text(h, req, 503, "store unavailable\n", NULL, false, out);
    }
    const struct store_issuer_rec *rec;
    const uint8_t *cert, *der;
    const struct store_crl_hdr *chp;
    struct store_crl_hdr ch;
    uint32_t id;
    int rc = store_get_issuer_by_name(t, name, &rec, &cert);
    if (rc == 0) {
        id = rec->id; /* store structs are packed: safe at LMDB's 2-byte alignment */
        rc = store_get_crl(t, id, kind, (uint16_t)shard, &chp, &der);
    }
    if (rc == -ENOENT)
        goto not_found;
    if (rc < 0) {
        handler_count(h, req, HANDLER_R_HTTP_ERROR);
        return handler_text(h, req, 500, "store error\n", NULL, false, out);
    }
    ch = *chp;

    struct handler_cache cache = {ch.this_update, ch.next_update, chp->etag};
    struct handler_resp r = {.status = 200,
                             .ctype = handler_ct_crl,
                             .body = der,
                             .body_len = ch.der_len,
                             .cache = &cache,
                             .not_modified = handler_not_modified(h, req, &cache),
                             .body_key = chp->etag};
    handler_count(h, req, HANDLER_R_CRL);
    rc = handler_emit(h, req, &r, out);
    if (rc == 0 && out->body_len)
        h->crl_bytes += ch.der_len;
    return rc;

not_found:
    handler_count(h, req, HANDLER_R_NOT_FOUND);
    return handler_text(h, req, 404, "no such CRL\n", NULL, false, out);
}

/* An issuer's name from its record (NUL-terminated within STORE_NAME_MAX). */
static void handler_w_issuer(struct handler_w *w, const struct store_issuer_rec *rec)
{
    handler_w_mem(w, rec->name, strnlen(rec->name, sizeof(rec->name)));
}

static void handler_w_problem(struct handler_w *w, const struct store_issuer_rec *rec)
{
    handler_w_str(w, "issuer ");
    handler_w_issuer(w, rec);
    handler_w_str(w, ": ");
}

struct handler_health_ctx {
    struct handler_w *w;
    unsigned problems;
};

/*
 * One line per reason store_issuer_healthy() fails, worded for an operator
 * (the lines are the contract in the brief; docs/http.md lists them).
 */
static int handler_health_issuer(void *arg, const struct store_issuer_rec *rec, const uint8_t *cert)
{
    struct handler_health_ctx *x = arg;
    struct handler_w *w = x->w;
    (void)cert;
    if (store_issuer_healthy(rec))
        return 0;
    unsigned before = x->problems;
    if (rec->sync.failed_at != 0) {
        handler_w_problem(w, rec);
        handler_w_str(w, "last sync failed at ");
        handler_w_i64(w, rec->sync.failed_at);
        if (rec->sync.malformed) {
            handler_w_str(w, " (");
            handler_w_u64(w, rec->sync.malformed);
            handler_w_str(w, " malformed lines)");
        } else if (rec->sync.error > 0) {
            handler_w_str(w, " (");
            handler_w_str(w, strerror(rec->sync.error));
            handler_w_str(w, ")");
        }
        handler_w_str(w, "\n");
        x->problems++;
    }
    if (rec->sync.unrevoke_refused) {
        handler_w_problem(w, rec);
        handler_w_u64(w, rec->sync.unrevoke_refused);
        handler_w_str(w, " revocation(s) the source no longer lists kept revoked\n");
        x->problems++;
    }
    static const struct {
        uint32_t bit;
        const char *text;
    } signer[] = {
        {STORE_SIGNER_EXPIRED, "OCSP signer expired\n"},
        {STORE_SIGNER_NOT_YET_VALID, "OCSP signer not yet valid\n"},
        {STORE_SIGNER_NO_NOCHECK, "OCSP signer lacks id-pkix-ocsp-nocheck\n"},
    };
    uint32_t bits = rec->sync.signer_problem;
    for (size_t i = 0; i < sizeof(signer) / sizeof(signer[0]); i++) {
        if (bits & signer[i].bit) {
            handler_w_problem(w, rec);
            handler_w_str(w, signer[i].text);
            bits &= ~signer[i].bit;
            x->problems++;
        }
    }
    if (bits) { /* a bit this responder does not know yet: still unhealthy, still said */
        handler_w_problem(w, rec);
        handler_w_str(w, "OCSP signer unusable (problem bits ");
        handler_w_u64(w, bits);
        handler_w_str(w, ")\n");
        x->problems++;
    }
    if (rec->crlstat.failed_at != 0) {
        bool incomplete = rec->sync.failed_at != 0 || rec->synced_at == 0;
        handler_w_problem(w, rec);
        handler_w_str(w, "CRL not issued since ");
        handler_w_i64(w, rec->crlstat.failed_at);
        handler_w_str(w, incomplete ? " (sync incomplete)\n" : " (CRL generation failed)\n");
        x->problems++;
    }
    if (x->problems == before) { /* unhealthy for a reason not spelt out above */
        handler_w_problem(w, rec);
        handler_w_str(w, "unhealthy\n");
        x->problems++;
    }
    return 0;
}

/*
 * Whether revokd-signer accepts connections on path: one non-blocking
 * connect() to the Unix socket, closed at once (the signer sees a client that
 * leaves). A Unix connect never waits: it is accepted into the backlog,
 * refused, or EAGAIN when the backlog is full, which still means a listening
 * signer (a busy one). Costs a socket per /healthz or /metrics request, which
 * are rare and not on the OCSP path. Returns 1 up, 0 down.
 */
static int handler_signer_up(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n >= sizeof(sa.sun_path))
        return 0;
    memcpy(sa.sun_path, path, n + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int up = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN;
    close(fd);
    return up;
}

/*
 * /healthz: 200 "ok" when the store is readable and every issuer is healthy
 * (store_issuer_healthy); else 503 with one line per problem, so a load
 * balancer takes the node out and the operator reads why.
 */
static int handler_health(struct handler *h, const struct http_req *req, struct http_out *out)
{
    struct handler_w w = {h->scratch, 0, sizeof(h->scratch), false};
    struct handler_health_ctx x = {&w, 0};
    struct store_txn *t = handler_txn(h);
    if (!t || store_issuer_foreach(t, handler_health_issuer, &x) < 0) {
        handler_count(h, req, HANDLER_R_HTTP_ERROR);
        return handler_text(h, req, 503, "store unavailable\n", NULL, false, out);
    }
    int moved = h->store_moved ? atomic_load_explicit(h->store_moved, memory_order_relaxed)
                               : HANDLER_STORE_CURRENT;
    if (moved == HANDLER_STORE_REMOVED) {
        handler_w_lit(&w, "store removed from [store] path: answers come from the copy opened "
                          "before, which no longer changes\n");
        x.problems++;
    } else if (moved == HANDLER_STORE_REPLACED) {
        handler_w_lit(&w, "store at [store] path replaced since it was opened: send SIGHUP to "
                          "serve the new one\n");
        x.problems++;
    }
    bool ok = x.problems == 0;
    if (ok)
        handler_w_lit(&w, "ok\n");
    /* A down signer is reported, but keeps the 200 (docs/signer.md): this node
     * still answers every pre-signed request right, and live ones get
     * tryLater, so taking it out of a load balancer (every node shares the
     * signer) would turn a partial outage into a whole one. */
    if (h->live_policy != NULL && h->live_policy->signer_path != NULL &&
        !handler_signer_up(h->live_policy->signer_path)) {
        handler_w_lit(&w, "live signer down: [signer] socket ");
        handler_w_str(&w, h->live_policy->signer_path);
        handler_w_lit(&w, " refuses connections; live answers are tryLater\n");
    }
    /* On overflow w.len stops at the last line that fit: still a 503 that says why. */
    handler_count(h, req, ok ? HANDLER_R_META : HANDLER_R_HTTP_ERROR);
    struct handler_resp r = {.status = ok ? 200 : 503,
                             .ctype = handler_ct_text,
                             .body = (const uint8_t *)h->scratch,
                             .body_len = w.len,
                             .no_store = true};
    return handler_emit(h, req, &r, out);
}

static void handler_w_metric(struct handler_w *w, const char *name, const char *type,
                             const char *help)
{
    handler_w_str(w, "# HELP ");
    handler_w_str(w, name);
    handler_w_str(w, " ");
    handler_w_str(w, help);
    handler_w_str(w, "\n# TYPE ");
    handler_w_str(w, name);
    handler_w_str(w, " ");
    handler_w_str(w, type);
    handler_w_str(w, "\n");
}

static void handler_w_sample(struct handler_w *w, const char *name, uint64_t v)
{
    handler_w_str(w, name);
    handler_w_str(w, " ");
    handler_w_u64(w, v);
    handler_w_str(w, "\n");
}

/* Per-issuer metric families (the names are the contract in the brief). */
enum handler_im {
    HANDLER_IM_HEALTHY,
    HANDLER_IM_SYNC_COMPLETE,
    HANDLER_IM_LAST_SYNC,
    HANDLER_IM_MALFORMED,
    HANDLER_IM_UNREVOKE,
    HANDLER_IM_SIGNER_PROBLEM,
    HANDLER_IM_SIGNER_NOT_AFTER,
    HANDLER_IM_CA_NOT_AFTER,
    HANDLER_IM_CRL_SKIPPED,
    HANDLER_IM_CRL_FAILURES,
    HANDLER_IM_CRL_NUMBER,
    HANDLER_IM_CRL_NEXT_UPDATE,
    HANDLER_IM_CRL_DELTA_NUMBER,
    HANDLER_IM_CRL_DELTA_NEXT_UPDATE,
    HANDLER_IM_COUNT
};

static const struct {
    const char *name, *type, *help;
} handler_im[HANDLER_IM_COUNT] = {
    {"revokd_issuer_healthy", "gauge", "1 if the issuer is healthy (see /healthz)."},
    {"revokd_issuer_sync_complete", "gauge", "1 if the indexer's last sync read every line."},
    {"revokd_issuer_last_sync_timestamp_seconds", "gauge", "Last complete indexer sync."},
    {"revokd_issuer_malformed_lines", "gauge", "Source lines the last sync could not read."},
    {"revokd_issuer_unrevoke_refused", "gauge",
     "Certificates the source no longer lists as revoked, kept revoked."},
    {"revokd_issuer_signer_problem", "gauge",
     "OCSP signer problem bits (1 not yet valid, 2 expired, 4 no id-pkix-ocsp-nocheck)."},
    {"revokd_issuer_signer_not_after_timestamp_seconds", "gauge", "OCSP signer expiry."},
    {"revokd_issuer_ca_not_after_timestamp_seconds", "gauge", "Issuing CA certificate expiry."},
    {"revokd_crl_skipped_total", "counter",
     "CRL runs that kept the previous CRL (sync incomplete)."},
    {"revokd_crl_failures_total", "counter", "CRL runs that failed otherwise."},
    {"revokd_crl_number", "gauge", "CRL Number of the last CRL issued."},
    {"revokd_crl_next_update_timestamp_seconds", "gauge", "nextUpdate of the current full CRL."},
    {"revokd_crl_delta_number", "gauge", "CRL Number of the current delta CRL."},
    {"revokd_crl_delta_next_update_timestamp_seconds", "gauge",
     "nextUpdate of the current delta CRL."},
};

struct handler_im_ctx {
    struct handler_w *w;
    struct store_txn *t;
    enum handler_im m;
};

static int handler_im_issuer(void *arg, const struct store_issuer_rec *rec, const uint8_t *cert)
{
    struct handler_im_ctx *x = arg;
    int64_t v = 0;
    (void)cert;
    switch (x->m) {
    case HANDLER_IM_HEALTHY:
        v = store_issuer_healthy(rec);
        break;
    case HANDLER_IM_SYNC_COMPLETE:
        v = rec->sync.failed_at == 0;
        break;
    case HANDLER_IM_LAST_SYNC:
        v = rec->synced_at;
        break;
    case HANDLER_IM_MALFORMED:
        v = rec->sync.malformed;
        break;
    case HANDLER_IM_UNREVOKE:
        v = rec->sync.unrevoke_refused;
        break;
    case HANDLER_IM_SIGNER_PROBLEM:
        v = rec->sync.signer_problem;
        break;
    case HANDLER_IM_SIGNER_NOT_AFTER:
        v = rec->sync.signer_not_after;
        break;
    case HANDLER_IM_CA_NOT_AFTER:
        v = rec->sync.ca_not_after;
        break;
    case HANDLER_IM_CRL_SKIPPED:
        v = (int64_t)rec->crlstat.skipped;
        break;
    case HANDLER_IM_CRL_FAILURES:
        v = (int64_t)rec->crlstat.failures;
        break;
    case HANDLER_IM_CRL_NUMBER:
        v = (int64_t)rec->crl_number;
        break;
    case HANDLER_IM_CRL_NEXT_UPDATE: {
        const struct store_crl_hdr *ch;
        const uint8_t *der;
        if (store_get_crl(x->t, rec->id, STORE_CRL_FULL, 0, &ch, &der) < 0)
            return 0; /* no full CRL yet: no sample */
        v = ch->next_update;
        break;
    }
    case HANDLER_IM_CRL_DELTA_NUMBER:
    case HANDLER_IM_CRL_DELTA_NEXT_UPDATE: {
        const struct store_crl_hdr *ch;
        const uint8_t *der;
        if (store_get_crl(x->t, rec->id, STORE_CRL_DELTA, 0, &ch, &der) < 0)
            return 0; /* no delta CRL (yet, or deltas off): no sample */
        v = x->m == HANDLER_IM_CRL_DELTA_NUMBER ? (int64_t)ch->number : ch->next_update;
        break;
    }
    default:
        return 0;
    }
    handler_w_str(x->w, handler_im[x->m].name);
    handler_w_str(x->w, "{issuer=\"");
    handler_w_issuer(x->w, rec); /* [A-Za-z0-9._-]: nothing to escape */
    handler_w_str(x->w, "\"} ");
    handler_w_i64(x->w, v);
    handler_w_str(x->w, "\n");
    return 0;
}

/*
 * The expiry families (docs/operations.md "Expiry monitoring"), from the
 * indexer's census in each issuer record: certificates expired or expiring
 * within 7/30/90 days (cumulative windows), when they were counted, and
 * whether a certificate that signs for the issuer is within [indexer]
 * signer_warn of its notAfter. Warnings, not health: an issuer whose
 * customers' certificates expire still answers correctly, so /healthz ignores
 * all of this. An issuer the indexer has not counted yet has no samples.
 */
struct handler_exp_ctx {
    struct handler_w *w;
    int64_t now;
    int fam;
};

enum {
    HANDLER_EXP_EXPIRING,
    HANDLER_EXP_EXPIRED,
    HANDLER_EXP_COMPUTED,
    HANDLER_EXP_CRL_SIGNER,
    HANDLER_EXP_WARNING,
    HANDLER_EXP_COUNT
};

static void handler_w_exp_head(struct handler_w *w, const char *metric,
                               const struct store_issuer_rec *rec)
{
    handler_w_str(w, metric);
    handler_w_str(w, "{issuer=\"");
    handler_w_issuer(w, rec);
    handler_w_str(w, "\"");
}

static int handler_exp_issuer(void *arg, const struct store_issuer_rec *rec, const uint8_t *cert)
{
    struct handler_exp_ctx *x = arg;
    struct store_issuer_expiry e;
    struct store_issuer_sync s;
    (void)cert;
    memcpy(&e, &rec->expiry, sizeof(e));
    memcpy(&s, &rec->sync, sizeof(s));
    switch (x->fam) {
    case HANDLER_EXP_EXPIRING: {
        const struct {
            const char *within;
            uint64_t n;
        } win[] = {{"7d", e.within_7d}, {"30d", e.within_30d}, {"90d", e.within_90d}};
        if (!e.computed_at)
            return 0;
        for (size_t i = 0; i < sizeof(win) / sizeof(win[0]); i++) {
            handler_w_exp_head(x->w, "revokd_certs_expiring", rec);
            handler_w_str(x->w, ",within=\"");
            handler_w_str(x->w, win[i].within);
            handler_w_str(x->w, "\"} ");
            handler_w_u64(x->w, win[i].n);
            handler_w_str(x->w, "\n");
        }
        return 0;
    }
    case HANDLER_EXP_EXPIRED:
    case HANDLER_EXP_COMPUTED:
        if (!e.computed_at)
            return 0;
        handler_w_exp_head(x->w,
                           x->fam == HANDLER_EXP_EXPIRED ? "revokd_certs_expired"
                                                         : "revokd_certs_expiry_timestamp_seconds",
                           rec);
        handler_w_str(x->w, "} ");
        handler_w_i64(x->w, x->fam == HANDLER_EXP_EXPIRED ? (int64_t)e.expired : e.computed_at);
        handler_w_str(x->w, "\n");
        return 0;
    case HANDLER_EXP_CRL_SIGNER:
        if (!e.crl_signer_not_after)
            return 0;
        handler_w_exp_head(x->w, "revokd_issuer_crl_signer_not_after_timestamp_seconds", rec);
        handler_w_str(x->w, "} ");
        handler_w_i64(x->w, e.crl_signer_not_after);
        handler_w_str(x->w, "\n");
        return 0;
    case HANDLER_EXP_WARNING: {
        const struct {
            const char *name;
            int64_t not_after;
        } c[] = {{"signer", s.signer_not_after},
                 {"ca", s.ca_not_after},
                 {"crl_signer", e.crl_signer_not_after}};
        if (!e.computed_at) /* warn_before is unknown until the indexer wrote it */
            return 0;
        for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
            if (!c[i].not_after)
                continue;
            handler_w_exp_head(x->w, "revokd_issuer_cert_expiry_warning", rec);
            handler_w_str(x->w, ",cert=\"");
            handler_w_str(x->w, c[i].name);
            handler_w_str(x->w, "\"} ");
            handler_w_u64(x->w, c[i].not_after - x->now < e.warn_before);
            handler_w_str(x->w, "\n");
        }
        return 0;
    }
    }
    return 0;
}

static int handler_metrics_expiry(struct handler_w *w, struct store_txn *t, int64_t now)
{
    static const struct {
        const char *name, *help;
    } fams[HANDLER_EXP_COUNT] = {
        {"revokd_certs_expiring",
         "Certificates not revoked that expire within 7, 30 or 90 days (cumulative)."},
        {"revokd_certs_expired", "Certificates not revoked past their notAfter."},
        {"revokd_certs_expiry_timestamp_seconds", "When the indexer last counted expiries."},
        {"revokd_issuer_crl_signer_not_after_timestamp_seconds",
         "Expiry of the certificate that signs the issuer's CRLs."},
        {"revokd_issuer_cert_expiry_warning",
         "1 if the OCSP signer, CA or CRL signer expires within [indexer] signer_warn."},
    };
    for (int f = 0; f < HANDLER_EXP_COUNT; f++) {
        struct handler_exp_ctx x = {w, now, f};
        handler_w_metric(w, fams[f].name, "gauge", fams[f].help);
        int rc = store_issuer_foreach(t, handler_exp_issuer, &x);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int handler_metrics(struct handler *h, const struct http_req *req, struct http_out *out)
{
    static const char *const methods[HANDLER_METHODS] = {"other", "get", "post", "head"};
    static const char *const results[HANDLER_R_COUNT] = {"ok",       "unauthorized", "malformed",
                                                         "trylater", "internal",     "crl",
                                                         "meta",     "not_found",    "http_error"};
    struct handler_w w = {h->scratch, 0, sizeof(h->scratch), false};

    /* Count this scrape first so the body includes it. */
    handler_count(h, req, HANDLER_R_META);
    handler_w_metric(&w, "revokd_up", "gauge", "The responder is running.");
    handler_w_sample(&w, "revokd_up", 1);
    if (h->live_policy != NULL && h->live_policy->signer_path != NULL) {
        handler_w_metric(&w, "revokd_live_signer_up", "gauge",
                         "1 if revokd-signer accepts connections on [signer] socket.");
        handler_w_sample(&w, "revokd_live_signer_up",
                         (uint64_t)handler_signer_up(h->live_policy->signer_path));
    }
    handler_w_metric(&w, "revokd_requests_total", "counter",
                     "HTTP requests by method and outcome.");
    for (unsigned m = 0; m < HANDLER_METHODS; m++) {
        for (unsigned r = 0; r < HANDLER_R_COUNT; r++) {
            handler_w_lit(&w, "revokd_requests_total{method=\"");
            handler_w_str(&w, methods[m]);
            handler_w_lit(&w, "\",result=\"");
            handler_w_str(&w, results[r]);
            handler_w_lit(&w, "\"} ");
            handler_w_u64(&w, h->requests[m][r]);
            handler_w_lit(&w, "\n");
        }
    }
    static const char *const lives[HANDLER_L_COUNT] = {
        "signed", "cached", "refused", "queue_full", "rate_limited", "signer_down", "timeout"};
    handler_w_metric(&w, "revokd_live_requests_total", "counter",
                     "Requests handed to live signing, by outcome (the last four are tryLater).");
    for (unsigned r = 0; r < HANDLER_L_COUNT; r++) {
        handler_w_lit(&w, "revokd_live_requests_total{result=\"");
        handler_w_str(&w, lives[r]);
        handler_w_lit(&w, "\"} ");
        handler_w_u64(&w, h->live[r]);
        handler_w_lit(&w, "\n");
    }
    handler_w_metric(&w, "revokd_stale_responses_total", "counter",
                     "Pre-signed responses found past nextUpdate (answered tryLater).");
    handler_w_sample(&w, "revokd_stale_responses_total", h->stale);
    handler_w_metric(&w, "revokd_response_bytes_total", "counter", "Body bytes served.");
    handler_w_lit(&w, "revokd_response_bytes_total{kind=\"ocsp\"} ");
    handler_w_u64(&w, h->ocsp_bytes);
    handler_w_lit(&w, "\nrevokd_response_bytes_total{kind=\"crl\"} ");
    handler_w_u64(&w, h->crl_bytes);
    handler_w_lit(&w, "\n");
    if (h->backend_name) { /* the network backend that runs (set by main, server.h) */
        handler_w_metric(&w, "revokd_backend_info", "gauge", "The network backend that runs.");
        handler_w_lit(&w, "revokd_backend_info{backend=\"");
        handler_w_str(&w, h->backend_name);
        handler_w_lit(&w, "\"} 1\n");
    }
    if (h->seccomp) { /* set by main once the sandbox is in place (sandbox.h) */
        handler_w_metric(&w, "revokd_seccomp", "gauge",
                         "1 if the seccomp filter confines the responder, 0 if not.");
        handler_w_sample(&w, "revokd_seccomp", atomic_load(h->seccomp) ? 1 : 0);
    }
    handler_w_metric(&w, "revokd_connections_open", "gauge", "Client connections open.");
    handler_w_sample(&w, "revokd_connections_open", h->conns_open);
    handler_w_metric(&w, "revokd_connections_total", "counter", "Client connections accepted.");
    handler_w_sample(&w, "revokd_connections_total", h->conns_total);
    handler_w_metric(&w, "revokd_idle_timeouts_total", "counter",
                     "Connections closed after idle_timeout without progress.");
    handler_w_sample(&w, "revokd_idle_timeouts_total", h->idle_timeouts);
    handler_w_metric(&w, "revokd_send_timeouts_total", "counter",
                     "Connections closed because queued output was not sent within send_timeout.");
    handler_w_sample(&w, "revokd_send_timeouts_total", h->send_timeouts);

    struct store_stats st;
    struct store_txn *t = handler_txn(h);
    bool ok = t && store_stats(t, &st) == 0;
    handler_w_metric(&w, "revokd_store_ok", "gauge", "The store read transaction renews.");
    handler_w_sample(&w, "revokd_store_ok", ok);
    handler_w_metric(&w, "revokd_store_current", "gauge",
                     "1 if [store] path still holds the store being served (0: removed or "
                     "replaced; SIGHUP reopens).");
    handler_w_sample(&w, "revokd_store_current",
                     !h->store_moved ||
                         atomic_load_explicit(h->store_moved, memory_order_relaxed) ==
                             HANDLER_STORE_CURRENT);
    if (ok) {
        static const struct {
            const char *name, *help;
            size_t off;
        } gauges[] = {
            {"revokd_store_issuers", "Issuers in the store.",
             offsetof(struct store_stats, issuers)},
            {"revokd_store_certs", "Certificates in the store.",
             offsetof(struct store_stats, certs)},
            {"revokd_store_revoked", "Revoked or on-hold certificates.",
             offsetof(struct store_stats, revoked)},
            {"revokd_store_responses", "Pre-signed OCSP responses.",
             offsetof(struct store_stats, responses)},
            {"revokd_store_map_used_bytes", "LMDB map bytes in use.",
             offsetof(struct store_stats, map_used_bytes)},
            {"revokd_store_map_size_bytes", "LMDB map size.",
             offsetof(struct store_stats, map_size_bytes)},
        };
        for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++) {
            uint64_t v;
            memcpy(&v, (const char *)&st + gauges[i].off, sizeof(v));
            handler_w_metric(&w, gauges[i].name, "gauge", gauges[i].help);
            handler_w_sample(&w, gauges[i].name, v);
        }
        for (unsigned m = 0; m < HANDLER_IM_COUNT && ok; m++) {
            struct handler_im_ctx x = {&w, t, (enum handler_im)m};
            handler_w_metric(&w, handler_im[m].name, handler_im[m].type, handler_im[m].help);
            ok = store_issuer_foreach(t, handler_im_issuer, &x) >= 0;
        }
        if (ok)
            ok = handler_metrics_expiry(&w, t, h->now) >= 0;
    }
    if (w.err)
        return handler_text(h, req, 500, "metrics too large\n", NULL, false, out);
    struct handler_resp r = {.status = 200,
                             .ctype = handler_ct_metrics,
                             .body = (const uint8_t *)h->scratch,
                             .body_len = w.len};
    return handler_emit(h, req, &r, out);
}

/* A JSON string (RFC 8259 7): quotes, backslash and controls escaped. */
static void handler_w_json_str(struct handler_w *w, const char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    handler_w_str(w, "\"");
    for (size_t i = 0; i < n && !w->err; i++) {
        uint8_t ch = (uint8_t)p[i];
        if (ch == '"' || ch == '\\') {
            char two[2] = {'\\', (char)ch};
            handler_w_mem(w, two, 2);
        } else if (ch < 0x20 || ch == 0x7f) {
            char six[6] = {'\\', 'u', '0', '0', digits[ch >> 4], digits[ch & 15]};
            handler_w_mem(w, six, 6);
        } else {
            handler_w_mem(w, &p[i], 1);
        }
    }
    handler_w_str(w, "\"");
}

/* RFC 3339 UTC, "2024-01-31T12:00:00Z", as a JSON string. */
static void handler_w_rfc3339(struct handler_w *w, int64_t t)
{
    struct handler_civil c;
    handler_civil(t, &c);
    handler_w_str(w, "\"");
    handler_w_udec(w, (unsigned)c.y, 4);
    handler_w_str(w, "-");
    handler_w_udec(w, (unsigned)c.mo, 2);
    handler_w_str(w, "-");
    handler_w_udec(w, (unsigned)c.d, 2);
    handler_w_str(w, "T");
    handler_w_hms(w, &c);
    handler_w_str(w, "Z\"");
}

/* RFC 5280 5.3.1 CRLReason names; 7 is unused. */
static const char *handler_reason_name(unsigned reason)
{
    static const char *const names[] = {
        "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
        "superseded",    "cessationOfOperation", "certificateHold", NULL,
        "removeFromCRL", "privilegeWithdrawn",   "aACompromise",
    };
    return reason < sizeof(names) / sizeof(names[0]) ? names[reason] : NULL;
}

static int handler_json_error(struct handler *h, const struct http_req *req, int status,
                              const char *error, const char *detail, enum handler_result res,
                              struct http_out *out)
{
    struct handler_w w = {h->scratch, 0, sizeof(h->scratch), false};
    handler_w_lit(&w, "{\"error\":");
    handler_w_json_str(&w, error, strlen(error));
    handler_w_lit(&w, ",\"detail\":");
    handler_w_json_str(&w, detail, strlen(detail));
    handler_w_lit(&w, "}\n");
    handler_count(h, req, res);
    struct handler_resp r = {.status = status,
                             .ctype = handler_ct_json,
                             .body = (const uint8_t *)h->scratch,
                             .body_len = w.len,
                             .no_store = true};
    return handler_emit(h, req, &r, out);
}

/*
 * GET /api/v1/status/{issuer}/{serial-hex}: one certificate's state from the
 * certs database as JSON (docs/http.md), for people and scripts. Not OCSP: no
 * signature, and the answer says what the store holds now, not a pre-signed
 * response; it is marked no-store so no cache keeps a status that may change.
 */
static int handler_status_api(struct handler *h, const struct http_req *req, const char *path,
                              size_t len, struct http_out *out)
{
    const size_t plen = sizeof(handler_api_prefix) - 1;
    const char *name = path + plen, *end = path + len;
    const char *slash = memchr(name, '/', (size_t)(end - name));
    if (!slash || !handler_name_ok(name, (size_t)(slash - name)))
        return handler_json_error(h, req, 404, "not found", "no such issuer", HANDLER_R_NOT_FOUND,
                                  out);
    const char *hex = slash + 1;
    uint8_t serial[DER_SERIAL_MAX];
    size_t serial_len;
    /* As the indexer reads index.txt, but unsigned: a '-' is not a hex digit. */
    if (der_serial_from_hex(hex, (size_t)(end - hex), false, serial, &serial_len) < 0)
        return handler_json_error(h, req, 400, "bad request",
                                  "the serial must be 1 to 64 hex digits (leading zeros aside)",
                                  HANDLER_R_HTTP_ERROR, out);
    char cname[STORE_NAME_MAX];
    memcpy(cname, name, (size_t)(slash - name));
    cname[slash - name] = '\0';

    struct store_txn *t = handler_txn(h);
    if (!t)
        return handler_json_error(h, req, 503, "unavailable", "store unavailable",
                                  HANDLER_R_HTTP_ERROR, out);
    const struct store_issuer_rec *rec;
    const uint8_t *cert;
    struct store_cert c;
    int rc = store_get_issuer_by_name(t, cname, &rec, &cert);
    if (rc == -ENOENT)
        return handler_json_error(h, req, 404, "not found", "no such issuer", HANDLER_R_NOT_FOUND,
                                  out);
    if (rc == 0)
        rc = store_get_cert(t, rec->id, serial, serial_len, &c);
    if (rc == -ENOENT)
        return handler_json_error(h, req, 404, "not found", "no such certificate",
                                  HANDLER_R_NOT_FOUND, out);
    if (rc < 0)
        return handler_json_error(h, req, 500, "internal", "store error", HANDLER_R_INTERNAL, out);

    struct handler_w w = {h->scratch, 0, sizeof(h->scratch), false};
    bool revoked = c.status == STORE_REVOKED || c.status == STORE_HOLD;
    static const char *const sources[] = {NULL, "index", "revokctl", "crl"};
    const char *src = c.source < sizeof(sources) / sizeof(sources[0]) ? sources[c.source] : NULL;
    /* The reason OCSP and the CRL give (the contract in docs/store.md): on hold is
     * certificateHold; unspecified (0) or none is no reason at all. */
    unsigned reason = c.status == STORE_HOLD ? 6u : c.reason;
    const char *rname = revoked && reason != 0 ? handler_reason_name(reason) : NULL;
    /* The serial as index.txt and `openssl ocsp` write it: the magnitude in upper-case hex. */
    size_t skip = serial_len > 1 && serial[0] == 0x00 ? 1 : 0;
    static const char updigits[] = "0123456789ABCDEF";

    handler_w_lit(&w, "{\"issuer\":");
    handler_w_json_str(&w, rec->name, strnlen(rec->name, sizeof(rec->name)));
    handler_w_lit(&w, ",\"serial\":\"");
    for (size_t i = skip; i < serial_len; i++) {
        char two[2] = {updigits[serial[i] >> 4], updigits[serial[i] & 15]};
        handler_w_mem(&w, two, 2);
    }
    handler_w_lit(&w, "\",\"status\":\"");
    handler_w_str(&w, c.status == STORE_GOOD      ? "good"
                      : c.status == STORE_HOLD    ? "on_hold"
                      : c.status == STORE_REVOKED ? "revoked"
                                                  : "unknown");
    handler_w_lit(&w, "\",\"reason\":");
    if (rname)
        handler_w_json_str(&w, rname, strlen(rname));
    else
        handler_w_lit(&w, "null");
    handler_w_lit(&w, ",\"revocation_time\":");
    if (revoked)
        handler_w_rfc3339(&w, c.revoked_at);
    else
        handler_w_lit(&w, "null");
    handler_w_lit(&w, ",\"invalidity_date\":");
    if (revoked && c.invalidity != 0)
        handler_w_rfc3339(&w, c.invalidity);
    else
        handler_w_lit(&w, "null");
    handler_w_lit(&w, ",\"not_after\":");
    if (c.not_after != 0)
        handler_w_rfc3339(&w, c.not_after);
    else
        handler_w_lit(&w, "null");
    handler_w_lit(&w, ",\"source\":");
    if (src)
        handler_w_json_str(&w, src, strlen(src));
    else
        handler_w_lit(&w, "null");
    handler_w_lit(&w, "}\n");

    handler_count(h, req, HANDLER_R_META);
    struct handler_resp r = {.status = 200,
                             .ctype = handler_ct_json,
                             .body = (const uint8_t *)h->scratch,
                             .body_len = w.len,
                             .no_store = true};
    return handler_emit(h, req, &r, out);
}

void handler_set_live(struct handler *h, const struct handler_live *p)
{
    h->live_policy = p;
}

int handler_live_answer(struct handler *h, const struct http_req *req, uint8_t status,
                        const uint8_t *der, size_t der_len, struct http_out *out)
{
    bool get = req->method == HTTP_GET || req->method == HTTP_HEAD;
    if (status != OCSP_SUCCESSFUL || !der || der_len == 0) {
        enum handler_result r = status == OCSP_UNAUTHORIZED        ? HANDLER_R_UNAUTHORIZED
                                : status == OCSP_MALFORMED_REQUEST ? HANDLER_R_MALFORMED
                                : status == OCSP_INTERNAL_ERROR    ? HANDLER_R_INTERNAL
                                                                   : HANDLER_R_TRYLATER;
        if (status == OCSP_SUCCESSFUL || status > OCSP_UNAUTHORIZED || status == 4)
            status = OCSP_INTERNAL_ERROR; /* not one we could send */
        return handler_ocsp_status(h, req, get, (enum ocsp_resp_status)status, r, out);
    }
    struct handler_resp r = {
        .status = 200, .ctype = handler_ct_ocsp, .body = der, .body_len = der_len, .no_store = get};
    handler_count(h, req, HANDLER_R_OK);
    int rc = handler_emit(h, req, &r, out);
    if (rc == 0 && out->body_len)
        h->ocsp_bytes += der_len;
    return rc;
}

int handler_init(struct handler *h, struct store *s, uint32_t max_age)
{
    memset(h, 0, sizeof(*h));
    h->store = s;
    h->max_age = max_age;
    h->status_api = true;
    if (!s)
        return 0;
    int rc = store_txn_begin(s, &h->txn, true);
    if (rc < 0)
        goto fail;
    store_txn_reset(&h->txn); /* idle until the first batch needs it */
    h->txn_open = true;
    return 0;

fail:
    h->store = NULL;
    return rc;
}

void handler_free(struct handler *h)
{
    if (h->txn_open)
        store_txn_abort(&h->txn);
    h->txn_open = h->txn_live = false;
}

void handler_set_status_api(struct handler *h, bool on)
{
    h->status_api = on;
}

void handler_batch_begin(struct handler *h, int64_t now_ns)
{
    int64_t s = now_ns / 1000000000;
    if (now_ns < 0 && s * 1000000000 != now_ns)
        s--; /* floor, so now_ns - now * 1e9 is never negative */
    h->now = s;
    h->now_ns = now_ns;
    h->txn_failed = false;
}

void handler_batch_end(struct handler *h)
{
    if (h->txn_live)
        store_txn_reset(&h->txn);
    h->txn_live = false;
}

int handler_head_check(const struct http_req *req)
{
    if (req->has_transfer_encoding)
        return 501; /* no chunked bodies: OCSP requests are small and sized */
    if (req->content_length > OCSP_REQ_MAX)
        return 413;
    if (req->expect_other)
        return 417;
    return 0;
}

int handler_error(struct handler *h, const struct http_req *req, int status, struct http_out *out)
{
    const char *reason = handler_reason(status);
    handler_count(h, req, HANDLER_R_HTTP_ERROR);
    /* The framing of what follows is unknown or unread: always close. */
    struct handler_resp r = {.status = status,
                             .ctype = handler_ct_text,
                             .body = (const uint8_t *)reason,
                             .body_len = strlen(reason),
                             .close = true};
    return handler_emit(h, req, &r, out);
}

static bool handler_path_is(const char *p, size_t n, const char *route)
{
    size_t rl = strlen(route);
    return n == rl && memcmp(p, route, n) == 0;
}

int handler_serve(struct handler *h, const struct http_req *req, const uint8_t *body,
                  size_t body_len, struct http_out *out)
{
    int st = handler_head_check(req);
    if (st)
        return handler_error(h, req, st, out);
    if (body_len > OCSP_REQ_MAX) /* the backend should have refused it already */
        return handler_error(h, req, 413, out);

    /* Routes ignore a query string; base64 never contains '?'. */
    const char *path = req->path;
    const char *q = memchr(path, '?', req->path_len);
    size_t plen = q ? (size_t)(q - path) : req->path_len;
    bool health = handler_path_is(path, plen, "/healthz");
    bool metrics = handler_path_is(path, plen, "/metrics");
    bool crl = plen >= 5 && memcmp(path, "/crl/", 5) == 0;
    const size_t apl = sizeof(handler_api_prefix) - 1;
    bool api_path = plen >= apl && memcmp(path, handler_api_prefix, apl) == 0;
    bool api = h->status_api && api_path;
    bool known = health || metrics || crl || api;

    switch (req->method) {
    case HTTP_GET:
    case HTTP_HEAD:
        if (health)
            return handler_health(h, req, out);
        if (metrics)
            return handler_metrics(h, req, out);
        if (crl)
            return handler_crl(h, req, path, plen, out);
        if (api)
            return handler_status_api(h, req, path, plen, out);
        if (api_path) { /* switched off: as if the route did not exist */
            handler_count(h, req, HANDLER_R_NOT_FOUND);
            return handler_text(h, req, 404, "not found\n", NULL, false, out);
        }
        if (plen == 0 || *path != '/') { /* "GET *" */
            handler_count(h, req, HANDLER_R_NOT_FOUND);
            return handler_text(h, req, 404, "not found\n", NULL, false, out);
        }
        return handler_ocsp_get(h, req, path, plen, out);
    case HTTP_POST:
        if (known)
            break;
        if (!req->has_content_length) {
            handler_count(h, req, HANDLER_R_HTTP_ERROR);
            return handler_text(h, req, 411, "POST needs a Content-Length\n", NULL, false, out);
        }
        /* RFC 6960 A.1.1: the request is sent as application/ocsp-request, and
         * openssl ocsp and GnuTLS ocsptool say so on the wire. A body of another
         * type (curl's default form encoding, JSON), or of none, is not for us. */
        if (!req->content_type ||
            !http_media_type_is(req->content_type, req->content_type_len, handler_ct_ocsp_req)) {
            handler_count(h, req, HANDLER_R_HTTP_ERROR);
            struct handler_resp r = {.status = 415,
                                     .ctype = handler_ct_text,
                                     .body = (const uint8_t *)"POST needs Content-Type: "
                                                              "application/ocsp-request\n",
                                     .body_len = sizeof("POST needs Content-Type: "
                                                        "application/ocsp-request\n") -
                                                 1,
                                     .extra = "Accept-Post: application/ocsp-request\r\n"};
            return handler_emit(h, req, &r, out);
        }
        return handler_ocsp_post(h, req, body, body_len, out);
    default:
        break;
    }
    handler_count(h, req, HANDLER_R_HTTP_ERROR);
    return handler_text(h, req, 405, "method not allowed\n",
                        known ? "GET, HEAD" : "GET, HEAD, POST", false, out);
}
