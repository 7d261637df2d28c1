/*
 * conn — connection slots, request processing and output bookkeeping shared by
 * the libev and io_uring backends (see conn.h). A body too big for a slot's
 * output buffer (a CRL) is sent from a shared, reference-counted copy keyed by
 * the store's hash of its bytes: however many connections fetch one CRL, the
 * worker holds one copy of each version, freed when the last connection is done
 * with it, and sends it in bounded chunks; SO_SNDBUF bounds what the kernel
 * holds per socket. Open connections sit on a list in order of last activity,
 * those with output pending on a second list in order of queueing, so the
 * timeouts only ever look at the list heads.
 */
#include "conn.h"

#include "livesign.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

/*
 * A large response body shared by every connection sending it. Keyed blobs (a
 * CRL, keyed by the store's SHA-256 prefix of its bytes) are on the pool's list
 * so the next connection asking for the same bytes takes a reference; unkeyed
 * ones (a large /metrics) belong to one connection.
 */
struct conn_blob {
    struct conn_blob *prev, *next;
    uint32_t refs;
    bool keyed;
    uint8_t key[STORE_ETAG_LEN];
    size_t len;
    uint8_t data[];
};

int64_t conn_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * CONN_NS + ts.tv_nsec;
}

enum log_level conn_warn_level(struct conn_pool *p)
{
    if (p->last_warn && p->mono - p->last_warn < CONN_NS)
        return LOG_DEBUG;
    p->last_warn = p->mono;
    return LOG_WARN;
}

/* A reference to the shared copy of body (keyed) or a private copy; NULL if out of memory. */
static struct conn_blob *conn_blob_get(struct conn_pool *p, const uint8_t *key, const uint8_t *body,
                                       size_t body_len, const uint8_t *tail, size_t tail_len)
{
    struct conn_blob *b;
    size_t len = body_len + tail_len;
    for (b = key ? p->blobs : NULL; b; b = b->next) {
        if (b->len == len && memcmp(b->key, key, STORE_ETAG_LEN) == 0) {
            b->refs++;
            return b;
        }
    }
    b = malloc(sizeof(*b) + len); /* once per distinct body, not per connection */
    if (!b)
        return NULL;
    memcpy(b->data, body, body_len);
    if (tail_len)
        memcpy(b->data + body_len, tail, tail_len);
    b->len = len;
    b->refs = 1;
    b->keyed = key != NULL;
    b->prev = NULL;
    b->next = NULL;
    if (key) {
        memcpy(b->key, key, STORE_ETAG_LEN);
        b->next = p->blobs;
        if (p->blobs)
            p->blobs->prev = b;
        p->blobs = b;
    }
    return b;
}

static void conn_blob_put(struct conn_pool *p, struct conn_blob *b)
{
    if (--b->refs > 0)
        return;
    if (b->keyed) {
        if (b->prev)
            b->prev->next = b->next;
        else
            p->blobs = b->next;
        if (b->next)
            b->next->prev = b->prev;
    }
    free(b);
}

/* Output pending: the send timeout runs from now until all of it is sent. */
static void conn_out_start(struct conn_pool *p, struct conn *c)
{
    if (c->on_out)
        return;
    c->on_out = true;
    c->out_since = p->mono;
    c->onext = NULL;
    c->oprev = p->otail;
    if (p->otail)
        p->otail->onext = c;
    else
        p->ohead = c;
    p->otail = c;
}

static void conn_out_done(struct conn_pool *p, struct conn *c)
{
    if (!c->on_out)
        return;
    c->on_out = false;
    if (c->oprev)
        c->oprev->onext = c->onext;
    else
        p->ohead = c->onext;
    if (c->onext)
        c->onext->oprev = c->oprev;
    else
        p->otail = c->oprev;
    c->oprev = c->onext = NULL;
}

static void conn_list_remove(struct conn_pool *p, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        p->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        p->tail = c->prev;
    c->prev = c->next = NULL;
}

static void conn_list_append(struct conn_pool *p, struct conn *c)
{
    c->prev = p->tail;
    c->next = NULL;
    if (p->tail)
        p->tail->next = c;
    else
        p->head = c;
    p->tail = c;
}

void conn_touch(struct conn_pool *p, struct conn *c)
{
    c->last = p->mono;
    if (p->tail != c) {
        conn_list_remove(p, c);
        conn_list_append(p, c);
    }
}

int conn_pool_init(struct conn_pool *p, struct server_worker *w)
{
    const struct server_params *sp = w->p;
    memset(p, 0, sizeof(*p));
    p->h = w->h;
    p->w = w;
    p->slab = MAP_FAILED;
    p->max_conns = sp->max_conns ? sp->max_conns : 1;
    p->idle = (int64_t)sp->idle_timeout_ms * 1000000;
    p->send = (int64_t)(sp->send_timeout_ms ? sp->send_timeout_ms : 60000) * 1000000;
    p->sndbuf = sp->send_buffer;
    p->mono = conn_clock(CLOCK_MONOTONIC);
    p->conns = calloc(p->max_conns, sizeof(*p->conns));
    p->slab_len = (size_t)p->max_conns * (CONN_RBUF + CONN_WBUF);
    p->slab = mmap(NULL, p->slab_len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (!p->conns || p->slab == MAP_FAILED ||
        (sp->live && livesign_init(&p->live, sp->live, p->h) < 0)) {
        conn_pool_free(p);
        return -ENOMEM;
    }
    for (uint32_t i = p->max_conns; i-- > 0;) {
        struct conn *c = &p->conns[i];
        c->fd = -1;
        c->slot = i;
        c->rbuf = p->slab + (size_t)i * (CONN_RBUF + CONN_WBUF);
        c->wbuf = c->rbuf + CONN_RBUF;
        c->next = p->free_list;
        p->free_list = c;
    }
    return 0;
}

void conn_pool_free(struct conn_pool *p)
{
    if (p->slab != MAP_FAILED && p->slab)
        munmap(p->slab, p->slab_len);
    p->slab = MAP_FAILED;
    free(p->conns);
    p->conns = NULL;
    livesign_free(p->live);
    p->live = NULL;
}

struct conn *conn_open(struct conn_pool *p, int fd)
{
    struct conn *c = p->free_list;
    if (!c)
        return NULL;
    int one = 1, sndbuf = (int)p->sndbuf;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        log_debug("fd %d: TCP_NODELAY: %s", fd, strerror(errno));
    /* Caps the kernel memory a client that never reads can pin (no autotuning). */
    if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0)
        log_debug("fd %d: SO_SNDBUF: %s", fd, strerror(errno));
    p->free_list = c->next;
    c->fd = fd;
    c->rlen = c->wlen = c->woff = 0;
    c->blob = NULL;
    c->blob_off = 0;
    c->eof = c->close_after = c->deferred = c->continued = c->lingering = false;
    c->live_slot = -1;
    c->on_out = false;
    c->oprev = c->onext = NULL;
    c->last = p->mono;
    conn_list_append(p, c);
    p->n_open++;
    p->h->conns_open++;
    p->h->conns_total++;
    return c;
}

void conn_release(struct conn_pool *p, struct conn *c)
{
    livesign_cancel(p->live, c);
    if (c->blob)
        conn_blob_put(p, c->blob);
    c->blob = NULL;
    c->fd = -1;
    conn_out_done(p, c);
    conn_list_remove(p, c);
    c->next = p->free_list;
    p->free_list = c;
    p->n_open--;
    p->h->conns_open--;
}

/*
 * Appends one response: all of it to wbuf if it fits, else the head to wbuf and
 * the body as a reference to a shared blob (key, from the handler, names the
 * bytes). Only one blob at a time: the request loop stops while one is pending,
 * which also leaves wbuf at least CONN_WBUF - CONN_WBUF_HIGH bytes for the head.
 */
static int conn_queue(struct conn_pool *p, struct conn *c, const uint8_t *hdr, size_t hdr_len,
                      const uint8_t *body, size_t body_len, const uint8_t *tail, size_t tail_len,
                      const uint8_t *key)
{
    if (c->blob || CONN_WBUF - c->wlen < hdr_len)
        return -ENOBUFS; /* cannot happen: see conn_process */
    bool fits = CONN_WBUF - c->wlen - hdr_len >= body_len + tail_len;
    if (!fits && !(c->blob = conn_blob_get(p, key, body, body_len, tail, tail_len)))
        return -ENOMEM;
    c->blob_off = 0;
    memcpy(c->wbuf + c->wlen, hdr, hdr_len);
    c->wlen += hdr_len;
    /* One copy of the stored bytes and the signer block behind them, so a batch's
     * answers leave in one send from wbuf: the stored bytes are valid only while the
     * batch's read txn lives, and the block's copy is ~1% of an answer's CPU
     * (docs/architecture.md). */
    if (fits && body_len) {
        memcpy(c->wbuf + c->wlen, body, body_len);
        c->wlen += body_len;
    }
    if (fits && tail_len) {
        memcpy(c->wbuf + c->wlen, tail, tail_len);
        c->wlen += tail_len;
    }
    conn_out_start(p, c);
    return 0;
}

/* handler_serve(), with /metrics reporting the totals over every worker. */
static int conn_serve(struct conn_pool *p, const struct http_req *req, const uint8_t *body,
                      size_t len, struct http_out *out)
{
    static const char metrics[] = "/metrics";
    if (!p->w || p->w->n_peers < 2 || req->path_len != sizeof(metrics) - 1 ||
        memcmp(req->path, metrics, sizeof(metrics) - 1) != 0)
        return handler_serve(p->h, req, body, len, out);
    struct server_counters save[2];
    server_metrics_begin(p->w, save);
    int rc = handler_serve(p->h, req, body, len, out);
    server_metrics_end(p->w, save);
    return rc;
}

int conn_process(struct conn_pool *p, struct conn *c)
{
    size_t off = 0;
    int rc = 0;

    c->deferred = false;
    while (rc == 0 && !c->close_after && off < c->rlen) {
        if (c->blob || c->wlen > CONN_WBUF_HIGH) {
            c->deferred = true;
            break;
        }
        struct http_req req;
        struct http_out out = {.hdr = p->hdr, .hdr_cap = sizeof(p->hdr)};
        const uint8_t *b = c->rbuf + off;
        size_t left = c->rlen - off;
        /* --- live signing hook: the request at rbuf[0] waits for revokd-signer --- */
        if (c->live_slot >= 0) {
            struct livesign_result lr;
            if (!livesign_result(p->live, c, &lr))
                break;                              /* not yet: livesign_ready() brings us back */
            int hn = http_req_parse(b, left, &req); /* parsed whole once already */
            rc = hn < 0 ? -EPROTO
                        : handler_live_answer(p->h, &req, lr.status, lr.der, lr.der_len, &out);
            if (hn >= 0)
                off += (size_t)hn + (size_t)req.content_length;
            if (rc == 0)
                rc = conn_queue(p, c, out.hdr, out.hdr_len, out.body, out.body_len, NULL, 0, NULL);
            livesign_finish(p->live, c);
            if (rc == 0 && out.close)
                c->close_after = true;
            continue;
        }
        int n = http_req_parse(b, left, &req);
        if (n == -2) {
            c->close_after = c->eof; /* the rest of the head will never come */
            break;
        }
        int st = n < 0 ? req.err_status : handler_head_check(&req);
        if (st) {
            /* Framing unknown or body refused: answer, drop the rest, close. */
            log_debug("fd %d: refused request (%d)", c->fd, st);
            rc = handler_error(p->h, &req, st, &out);
            off = c->rlen;
        } else if (left - (size_t)n < req.content_length) {
            if (c->eof) {
                c->close_after = true;
            } else if (req.expect_continue && left == (size_t)n && !c->continued) {
                /* Queued after earlier pipelined responses, so wire order holds. */
                rc = conn_queue(p, c, (const uint8_t *)HTTP_100_CONTINUE,
                                sizeof(HTTP_100_CONTINUE) - 1, NULL, 0, NULL, 0, NULL);
                c->continued = true;
            }
            break;
        } else {
            size_t need = (size_t)req.content_length;
            rc = conn_serve(p, &req, b + n, need, &out);
            if (rc == HANDLER_LIVE) { /* --- live signing hook: hand it to the signer --- */
                struct livesign_result lr = {.status = OCSP_TRY_LATER};
                if (p->live && livesign_submit(p->live, c, &p->h->live_req, p->mono, &lr) == 0) {
                    rc = 0;
                    conn_touch(p, c);
                    continue; /* stays at the front; the loop stops on c->live_slot */
                }
                rc = handler_live_answer(p->h, &req, lr.status, lr.der, lr.der_len, &out);
            }
            off += (size_t)n + need;
            c->continued = false;
            conn_touch(p, c); /* a complete request is progress; raw bytes are not */
        }
        /* Copy now: the body may point into the store map, valid only this batch. */
        if (rc == 0)
            rc = conn_queue(p, c, out.hdr, out.hdr_len, out.body, out.body_len, out.tail,
                            out.tail_len, out.body_key);
        if (out.close)
            c->close_after = true;
    }
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    return rc;
}

size_t conn_out_iov(const struct conn *c, struct iovec iov[2])
{
    size_t n = 0;
    if (c->woff < c->wlen)
        iov[n++] = (struct iovec){c->wbuf + c->woff, c->wlen - c->woff};
    if (c->blob) {
        size_t left = c->blob->len - c->blob_off;
        iov[n++] =
            (struct iovec){c->blob->data + c->blob_off, left < CONN_CHUNK ? left : CONN_CHUNK};
    }
    return n;
}

void conn_sent(struct conn_pool *p, struct conn *c, size_t sent)
{
    conn_touch(p, c);
    size_t w = c->wlen - c->woff;
    size_t from_w = sent < w ? sent : w;
    c->woff += from_w;
    sent -= from_w;
    if (c->woff == c->wlen)
        c->woff = c->wlen = 0;
    if (c->blob) {
        c->blob_off += sent;
        if (c->blob_off == c->blob->len) {
            conn_blob_put(p, c->blob);
            c->blob = NULL;
        }
    }
    if (!conn_out_pending(c))
        conn_out_done(p, c);
}

struct conn *conn_expired(struct conn_pool *p, bool *send_timeout)
{
    if (p->head && p->mono - p->head->last >= p->idle) {
        *send_timeout = false;
        return p->head;
    }
    if (p->ohead && p->mono - p->ohead->out_since >= p->send) {
        *send_timeout = true;
        return p->ohead;
    }
    return NULL;
}

struct conn *conn_timed_out(struct conn_pool *p)
{
    bool send_to;
    struct conn *c = conn_expired(p, &send_to);
    if (!c)
        return NULL;
    if (send_to) {
        log_msg(conn_warn_level(p), "fd %d: send timeout: the client does not read its answers",
                c->fd);
        p->h->send_timeouts++;
    } else {
        log_debug("fd %d: idle timeout", c->fd);
        p->h->idle_timeouts++;
    }
    return c;
}
