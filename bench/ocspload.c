/*
 * ocspload — revokd's OCSP load generator. `ocspload gen` writes a request set
 * (ol_reqs.h); `ocspload run` replays it over keep-alive HTTP/1.1 connections
 * as POSTs, RFC 5019 GETs or a mix, closed-loop (C connections each keeping D
 * requests in flight) or open-loop (a fixed total rate, latency measured from
 * each request's intended send time so a stalled server cannot hide queued
 * requests: no coordinated omission). One thread runs an epoll loop over
 * non-blocking sockets with buffers allocated once at start and responses
 * parsed incrementally in place; nothing is allocated per request. Every
 * response gets a cheap structural OCSP check against its expected status; a
 * sample (and the first response to each distinct request) is copied to a ring
 * and fully verified with OpenSSL off the hot path. The report gives rates,
 * errors by kind, log-linear latency quantiles, and the generator's own CPU
 * use, so a run says whether it measured the server or itself. With
 * --no-ocsp-check it drives any HTTP server with one fixed request and checks
 * only for 200 and a well-formed Content-Length body (e.g. nginx serving a
 * static .der, as a ceiling to compare a responder against).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ol_hist.h"
#include "ol_http.h"
#include "ol_ocsp.h"
#include "ol_reqs.h"

#define MAX_CONNS          65536u
#define MAX_DEPTH          4096u
#define MAX_EVENTS         256
#define TICK_NS            5000000ull /* housekeeping: timeouts, reconnects, stop */
#define CONNECT_BACKOFF_NS 20000000ull
#define MAX_MSGS           5 /* example messages kept per problem kind */

enum err_kind {
    E_CONNECT,
    E_IO,
    E_HTTP_STATUS,
    E_MALFORMED,
    E_SHORT,
    E_WRONG,
    E_VERIFY,
    E_TIMEOUT,
    E_KINDS
};
static const char *const ERR_NAME[E_KINDS] = {"connect", "io",           "http_status", "malformed",
                                              "short",   "wrong_answer", "verify_fail", "timeout"};

enum method { M_POST, M_GET, M_MIX };

struct opts {
    const char *target_host; /* for getaddrinfo */
    const char *target_port;
    char host_header[300];
    const char *path;
    const char *requests;
    size_t conns;
    unsigned depth;
    double duration;
    uint64_t count;
    double rate; /* > 0: open loop */
    double warmup;
    enum method method;
    double get_fraction;
    const char *extra[OL_EXTRA_HEADERS_MAX];
    size_t n_extra;
    bool ocsp_check;
    bool verify;
    const char *ca;
    const char *untrusted;
    double verify_fraction;
    size_t verify_buffer;
    enum ol_unknown_policy unknown;
    uint64_t timeout_ns;
    uint64_t spin_ns;
    int cpu;
    size_t rbuf;
    uint64_t seed;
    bool json;
    const char *label;
};

/* One request on a connection: queued, sent, awaiting its response. */
struct slot {
    uint64_t t_start; /* latency origin: send time (closed) or intended time (open) */
    uint64_t t_sent;  /* when its bytes went to the socket, for timeouts */
    uint32_t req;
    uint8_t get;
};

/*
 * C_IDLE: no socket and none needed yet (after the server closed and nothing
 * was queued; the next request connects first, so against a server that
 * closes after each response, connection setup counts in each latency).
 * C_DOWN: a connect failed; retry at t_connect.
 */
enum cstate { C_IDLE, C_DOWN, C_CONNECTING, C_OPEN };

struct conn {
    int fd;
    enum cstate state;
    bool want_out; /* EPOLLOUT registered */
    bool dirty;    /* on the open-loop dirty list */
    bool close_after;
    uint32_t gen; /* bumped on every close, to drop stale events */
    /* in-flight FIFO: q[qhead .. qhead+qn), the first qsent of them written */
    struct slot *q;
    unsigned qhead, qn, qsent;
    uint8_t *wbuf;
    size_t wlen, woff;
    uint8_t *rbuf;
    size_t rlen, scan;
    bool skipping; /* streaming a body too large for rbuf */
    uint64_t body_left;
    struct ol_http_resp head;
    uint64_t responses; /* on the current TCP connection */
    uint64_t t_connect; /* C_CONNECTING: since; C_DOWN: retry at */
    uint64_t next_seq;  /* open loop: this connection's next schedule slot */
};

/* Byte ring of sampled responses awaiting full verification. */
struct ring {
    uint8_t *buf;
    size_t cap, head, tail, count;
};
#define RING_WRAP 0xffffffffu

struct run {
    const struct opts *o;
    struct ol_reqset *set;
    struct ol_verifier *ver;
    int ep;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct conn *conns;
    size_t nconn;
    struct conn **dirty;
    size_t ndirty;
    size_t wcap;
    unsigned depth;
    bool open_loop;

    uint64_t t0, t_measure, t_end; /* t_end: 0 until known (count mode) */
    double ns_per_req;
    uint64_t k_due, k_end;
    uint64_t cursor, issued;
    uint64_t rng;
    bool stopping;
    uint64_t drain_deadline;
    bool nonpersistent;
    uint64_t inflight;

    /* lat_sent (open loop): from the request's actual write, so the generator's
     * own lag behind schedule (lag) can be told from the server's time */
    struct ol_hist lat, lag, lat_sent;
    uint64_t ok, ok_window, responses, bytes_rx, bytes_rx_window, bytes_tx;
    uint64_t err[E_KINDS];
    uint64_t status_count[1000];
    uint64_t connects, server_closes, retried;
    uint64_t t_last_done;
    char msgs[E_KINDS][MAX_MSGS][200];
    unsigned n_msgs[E_KINDS];

    struct ring ring;
    uint8_t *first_seen;
    uint64_t sampled, sampled_first, verified, verify_failed, sample_skipped, stalls;
    uint64_t verify_ns_load, verify_n_load;

    uint64_t idle_ns, wall_ns;
    double cpu_s;
    int64_t runq_ns; /* time runnable but waiting for a CPU; -1 if unknown */
};

static volatile sig_atomic_t g_stop;

static void on_sigint(int sig)
{
    (void)sig;
    if (g_stop < 2)
        g_stop = g_stop + 1; /* a second signal also cuts the drain short */
}

static inline uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static inline double rnd01(uint64_t *s)
{
    return (double)(xorshift(s) >> 11) * (1.0 / 9007199254740992.0);
}

static void note(struct run *r, enum err_kind k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Counts an error (if inside the measured window) and keeps the first messages. */
static void note(struct run *r, enum err_kind k, const char *fmt, ...)
{
    r->err[k]++;
    if (r->n_msgs[k] < MAX_MSGS && fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->msgs[k][r->n_msgs[k]], sizeof(r->msgs[k][0]), fmt, ap);
        va_end(ap);
        r->n_msgs[k]++;
    }
}

/* ---- sample ring ---------------------------------------------------------------- */

static size_t ring_need(size_t len)
{
    return 8 + ((len + 7) & ~(size_t)7);
}

/* Copies a body in; false if there is no room. */
static bool ring_push(struct ring *g, uint32_t req, const uint8_t *body, size_t len)
{
    size_t need = ring_need(len);
    if (len >= RING_WRAP || need > g->cap)
        return false;
    if (g->count == 0)
        g->head = g->tail = 0;
    size_t at;
    if (g->count == 0 || g->tail > g->head) {
        if (g->cap - g->tail >= need) {
            at = g->tail;
        } else if (need <= g->head) {
            if (g->cap - g->tail >= 8) {
                uint32_t w[2] = {RING_WRAP, 0};
                memcpy(g->buf + g->tail, w, 8);
            }
            at = 0;
        } else {
            return false;
        }
    } else { /* tail <= head with data: free space is [tail, head) */
        if (g->head - g->tail < need)
            return false;
        at = g->tail;
    }
    uint32_t h[2] = {(uint32_t)len, req};
    memcpy(g->buf + at, h, 8);
    memcpy(g->buf + at + 8, body, len);
    g->tail = at + need;
    g->count++;
    return true;
}

/* The oldest record, or false when empty. */
static bool ring_front(struct ring *g, uint32_t *req, const uint8_t **body, size_t *len)
{
    if (g->count == 0)
        return false;
    if (g->cap - g->head < 8)
        g->head = 0;
    uint32_t h[2];
    memcpy(h, g->buf + g->head, 8);
    if (h[0] == RING_WRAP) {
        g->head = 0;
        memcpy(h, g->buf, 8);
    }
    *len = h[0];
    *req = h[1];
    *body = g->buf + g->head + 8;
    return true;
}

static void ring_pop(struct ring *g, size_t len)
{
    g->head += ring_need(len);
    if (--g->count == 0)
        g->head = g->tail = 0;
}

/* Verifies the oldest sample. Returns false when the ring is empty. */
static bool verify_one(struct run *r)
{
    uint32_t ri;
    const uint8_t *body;
    size_t len;
    if (!ring_front(&r->ring, &ri, &body, &len))
        return false;
    const struct ol_req *q = &r->set->req[ri];
    char why[300];
    if (ol_verify(r->ver, body, len, r->set->der + q->der_off, q->der_len,
                  (enum ol_expect)q->expect, r->o->unknown, why, sizeof(why)) == 0) {
        r->verified++;
    } else {
        r->verify_failed++;
        note(r, E_VERIFY, "request %u (expected %s): %s", ri + 1,
             ol_expect_str((enum ol_expect)q->expect), why);
    }
    ring_pop(&r->ring, len);
    return true;
}

/* Timed verification during the load (gaps or a full ring). */
static bool verify_one_timed(struct run *r)
{
    uint64_t a = mono_ns();
    bool did = verify_one(r);
    if (did) {
        r->verify_ns_load += mono_ns() - a;
        r->verify_n_load++;
    }
    return did;
}

/* Samples a response body for full verification, per the sampling rules. */
static void maybe_sample(struct run *r, uint32_t ri, const uint8_t *body, size_t len)
{
    const struct ol_req *q = &r->set->req[ri];
    bool first = !r->first_seen[q->distinct];
    if (!first && !(rnd01(&r->rng) < r->o->verify_fraction))
        return;
    if (ring_need(len) > r->ring.cap) {
        r->sample_skipped++;
        return;
    }
    while (!ring_push(&r->ring, ri, body, len)) {
        if (!first) {
            r->sample_skipped++;
            return;
        }
        r->stalls++; /* a first response must be verified: make room now */
        verify_one_timed(r);
    }
    r->sampled++;
    if (first) {
        r->first_seen[q->distinct] = 1;
        r->sampled_first++;
    }
}

/* ---- connections -------------------------------------------------------------------- */

static void conn_close_fd(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->gen++;
    c->want_out = false;
    c->rlen = c->scan = 0;
    c->skipping = false;
    c->wlen = c->woff = 0;
    c->qsent = 0;
    c->responses = 0;
    c->close_after = false;
}

static void conn_start(struct run *r, struct conn *c, uint64_t now);

static void conn_issue(struct run *r, struct conn *c, uint64_t now);

/*
 * Closes; queued requests stay queued and are resent on a new connection,
 * opened at once if any are queued or due, else when the next one is.
 */
static void conn_restart(struct run *r, struct conn *c, uint64_t now)
{
    r->retried += c->qsent;
    conn_close_fd(c);
    c->state = C_IDLE;
    conn_issue(r, c, now);
}

/* Drops the oldest in-flight request (it failed). */
static void conn_drop_head(struct run *r, struct conn *c)
{
    if (c->qn == 0)
        return;
    c->qhead = (c->qhead + 1) % r->depth;
    c->qn--;
    if (c->qsent)
        c->qsent--;
    r->inflight--;
}

static int ep_set(struct run *r, struct conn *c, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    return epoll_ctl(r->ep, op, c->fd, &ev);
}

static void conn_want_out(struct run *r, struct conn *c, bool on)
{
    if (c->want_out == on)
        return;
    if (ep_set(r, c, EPOLLIN | (on ? EPOLLOUT : 0u), EPOLL_CTL_MOD) == 0)
        c->want_out = on;
}

static void conn_fail(struct run *r, struct conn *c, enum err_kind k, uint64_t now,
                      const char *why);

/* Writes what is buffered. 0, or -1 after failing the connection. */
static int conn_flush(struct run *r, struct conn *c, uint64_t now)
{
    while (c->woff < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (size_t)n;
            r->bytes_tx += (uint64_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_want_out(r, c, true);
            return 0;
        }
        conn_fail(r, c, E_IO, now, strerror(errno));
        return -1;
    }
    c->woff = c->wlen = 0;
    conn_want_out(r, c, false);
    return 0;
}

/* Appends the bytes of a queued slot to the write buffer. */
static void conn_put(struct run *r, struct conn *c, struct slot *s, uint64_t now)
{
    const struct ol_req *q = &r->set->req[s->req];
    const struct ol_http_req *h = &r->set->http_of[q->distinct];
    uint32_t off = s->get ? h->get_off : h->post_off;
    uint32_t len = s->get ? h->get_len : h->post_len;
    if (r->wcap - c->wlen < len) { /* compact: the unsent tail always fits */
        memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
        c->wlen -= c->woff;
        c->woff = 0;
    }
    memcpy(c->wbuf + c->wlen, r->set->http + off, len);
    c->wlen += len;
    s->t_sent = now;
}

/*
 * Queues new requests as the mode allows, then writes the queued-but-unsent
 * ones (an idle connection slot connects first).
 */
static void conn_issue(struct run *r, struct conn *c, uint64_t now)
{
    if ((c->state != C_OPEN && c->state != C_IDLE) || c->close_after)
        return;
    unsigned limit = r->nonpersistent ? 1 : r->depth;
    while (c->qn < limit) {
        uint64_t t_start;
        if (r->open_loop) {
            if (c->next_seq >= r->k_end)
                break;
            t_start = r->t0 + (uint64_t)((double)c->next_seq * r->ns_per_req);
            if (t_start > now)
                break;
            c->next_seq += r->nconn;
            if (t_start >= r->t_measure)
                ol_hist_add(&r->lag, now - t_start);
        } else {
            if (r->stopping || (r->o->count && r->issued >= r->o->count) ||
                (r->t_end && now >= r->t_end))
                break;
            t_start = now;
        }
        struct slot *s = &c->q[(c->qhead + c->qn) % r->depth];
        s->t_start = t_start;
        s->req = (uint32_t)r->cursor;
        if (++r->cursor == r->set->n)
            r->cursor = 0;
        s->get =
            r->o->method == M_GET || (r->o->method == M_MIX && rnd01(&r->rng) < r->o->get_fraction);
        c->qn++;
        r->inflight++;
        r->issued++;
    }
    if (c->state == C_IDLE) {
        if (c->qn > 0)
            conn_start(r, c, now); /* sends the queue once established */
        return;
    }
    bool wrote = false;
    while (c->qsent < c->qn && c->qsent < limit) {
        conn_put(r, c, &c->q[(c->qhead + c->qsent) % r->depth], now);
        c->qsent++;
        wrote = true;
    }
    if (wrote)
        conn_flush(r, c, now);
}

static void conn_established(struct run *r, struct conn *c, uint64_t now)
{
    c->state = C_OPEN;
    r->connects++;
    conn_want_out(r, c, false);
    conn_issue(r, c, now);
}

static void conn_start(struct run *r, struct conn *c, uint64_t now)
{
    c->fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        note(r, E_CONNECT, "socket: %s", strerror(errno));
        goto down;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (ep_set(r, c, EPOLLIN | EPOLLOUT, EPOLL_CTL_ADD) != 0) {
        note(r, E_CONNECT, "epoll_ctl: %s", strerror(errno));
        goto down;
    }
    c->want_out = true;
    if (connect(c->fd, (const struct sockaddr *)&r->addr, r->addrlen) == 0) {
        conn_established(r, c, now);
        return;
    }
    if (errno == EINPROGRESS) {
        c->state = C_CONNECTING;
        c->t_connect = now;
        return;
    }
    note(r, E_CONNECT, "connect: %s", strerror(errno));
down:
    conn_close_fd(c);
    c->state = C_DOWN;
    c->t_connect = now + CONNECT_BACKOFF_NS;
}

/*
 * The connection broke (I/O error, timeout, malformed or short response): the
 * oldest in-flight request fails with kind k, the rest are resent on a new one.
 */
static void conn_fail(struct run *r, struct conn *c, enum err_kind k, uint64_t now, const char *why)
{
    if (c->qn > 0) {
        note(r, k, "%s", why);
        conn_drop_head(r, c);
    } else if (k != E_IO) {
        note(r, k, "%s", why);
    }
    conn_restart(r, c, now);
}

/* The server closed (EOF) or reset the connection at a response boundary or mid-response. */
static void conn_closed_by_peer(struct run *r, struct conn *c, uint64_t now, bool reset)
{
    bool mid = c->rlen > 0 || c->skipping;
    if (mid) {
        conn_fail(r, c, E_SHORT, now,
                  reset ? "connection reset mid-response" : "connection closed mid-response");
        return;
    }
    if (c->qsent > 0 && c->responses == 0) {
        conn_fail(r, c, reset ? E_IO : E_SHORT, now,
                  reset ? "connection reset before any response"
                        : "connection closed before any response");
        return;
    }
    /* a keep-alive connection ended between responses: not an error */
    r->server_closes++;
    if (c->qsent > 0)
        r->nonpersistent = true; /* it dropped requests it had been sent */
    conn_restart(r, c, now);
}

/* A complete response to the oldest in-flight request. */
static void on_response(struct run *r, struct conn *c, uint64_t now, const uint8_t *body,
                        size_t blen, bool in_buf)
{
    struct slot *s = &c->q[c->qhead];
    uint32_t ri = s->req;
    uint64_t t_start = s->t_start;
    uint64_t t_sent = s->t_sent;
    conn_drop_head(r, c);
    c->responses++;
    r->responses++;
    r->t_last_done = now;
    if (c->head.close) {
        c->close_after = true;
        if (c->qsent > 0)
            r->nonpersistent = true;
    }
    bool measured = t_start >= r->t_measure;
    const struct ol_http_resp *h = &c->head;
    if (h->status != 200) {
        r->status_count[h->status]++;
        if (measured)
            note(r, E_HTTP_STATUS, "HTTP %d for request %u", h->status, ri + 1);
        return;
    }
    if (r->o->ocsp_check) {
        const struct ol_req *q = &r->set->req[ri];
        if (!in_buf) {
            if (measured)
                note(r, E_MALFORMED, "response body of %zu bytes exceeds --rbuf", blen);
            return;
        }
        if (!h->ctype_ocsp) {
            if (measured)
                note(r, E_MALFORMED, "Content-Type is not application/ocsp-response");
            return;
        }
        enum ol_fast f = ol_fast_check(body, blen, r->set->der + q->der_off, &q->id,
                                       (enum ol_expect)q->expect, r->o->unknown);
        if (f != OL_FAST_OK) {
            if (measured)
                note(r, E_WRONG, "request %u (expected %s, %s): %s", ri + 1,
                     ol_expect_str((enum ol_expect)q->expect), q->sha256 ? "sha256" : "sha1",
                     ol_fast_str(f));
            return;
        }
        if (r->ver)
            maybe_sample(r, ri, body, blen);
    }
    if (!measured)
        return;
    ol_hist_add(&r->lat, now - t_start);
    if (r->open_loop)
        ol_hist_add(&r->lat_sent, now - t_sent);
    r->ok++;
    if (r->t_end == 0 || now <= r->t_end) {
        r->ok_window++;
        r->bytes_rx_window += (uint64_t)blen;
    }
}

/* Parses every complete response in rbuf. Returns -1 if the connection was failed. */
static int conn_parse(struct run *r, struct conn *c, uint64_t now)
{
    size_t pos = 0;
    for (;;) {
        if (c->skipping) {
            uint64_t take = c->rlen - pos < c->body_left ? c->rlen - pos : c->body_left;
            pos += (size_t)take;
            c->body_left -= take;
            if (c->body_left > 0)
                break;
            c->skipping = false;
            on_response(r, c, now, NULL, (size_t)c->head.content_length, false);
            if (c->close_after)
                break;
            continue;
        }
        size_t avail = c->rlen - pos;
        if (avail == 0)
            break;
        size_t hl = ol_http_head_end(c->rbuf + pos, avail, &c->scan);
        if (hl == 0) {
            if (pos == 0 && c->rlen == r->o->rbuf) {
                conn_fail(r, c, E_MALFORMED, now, "response head larger than --rbuf");
                return -1;
            }
            break;
        }
        if (ol_http_parse_head(c->rbuf + pos, hl, &c->head) != 0) {
            conn_fail(r, c, E_MALFORMED, now, "malformed or unsupported response head");
            return -1;
        }
        if (c->head.status < 200) { /* interim 1xx: no body, no request completed */
            pos += hl;
            continue;
        }
        if (c->qsent == 0) {
            conn_fail(r, c, E_MALFORMED, now, "response without a request");
            return -1;
        }
        uint64_t cl = c->head.content_length;
        if (avail - hl >= cl) {
            on_response(r, c, now, c->rbuf + pos + hl, (size_t)cl, true);
            pos += hl + (size_t)cl;
            if (c->close_after)
                break;
            continue;
        }
        if (hl + cl <= r->o->rbuf)
            break; /* fits once the rest arrives: wait, keeping head and body together */
        c->skipping = true;
        c->body_left = cl - (avail - hl);
        pos = c->rlen;
        break;
    }
    if (pos > 0) {
        memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= pos; /* c->scan is relative to pos, so it stays valid */
    }
    if (c->close_after) {
        r->server_closes++;
        conn_restart(r, c, now);
        return -1;
    }
    return 0;
}

/* Puts c on the list of connections to issue requests on after this event batch. */
static void mark_dirty(struct run *r, struct conn *c)
{
    if (!c->dirty) {
        c->dirty = true;
        r->dirty[r->ndirty++] = c;
    }
}

/* Issues on every marked connection: one burst of writes per event batch, like wrk. */
static void issue_dirty(struct run *r, uint64_t now)
{
    for (size_t i = 0; i < r->ndirty; i++) {
        r->dirty[i]->dirty = false;
        conn_issue(r, r->dirty[i], now);
    }
    r->ndirty = 0;
}

static void conn_readable(struct run *r, struct conn *c)
{
    ssize_t n = read(c->fd, c->rbuf + c->rlen, r->o->rbuf - c->rlen);
    uint64_t now = mono_ns();
    if (n > 0) {
        c->rlen += (size_t)n;
        r->bytes_rx += (uint64_t)n;
        if (conn_parse(r, c, now) == 0)
            mark_dirty(r, c);
        return;
    }
    if (n == 0) {
        conn_closed_by_peer(r, c, now, false);
        return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
    if (errno == ECONNRESET)
        conn_closed_by_peer(r, c, now, true);
    else
        conn_fail(r, c, E_IO, now, strerror(errno));
}

static void conn_writable(struct run *r, struct conn *c)
{
    uint64_t now = mono_ns();
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
            err = errno;
        if (err != 0) {
            note(r, E_CONNECT, "connect: %s", strerror(err));
            conn_close_fd(c);
            c->state = C_DOWN;
            c->t_connect = now + CONNECT_BACKOFF_NS;
            return;
        }
        conn_established(r, c, now);
        return;
    }
    conn_flush(r, c, now);
}

/* ---- the loop --------------------------------------------------------------------------- */

/* Timeouts, reconnects, and the stop/drain decision. Returns true when the run is over. */
static bool housekeeping(struct run *r, uint64_t now)
{
    for (size_t i = 0; i < r->nconn; i++) {
        struct conn *c = &r->conns[i];
        if (c->state == C_DOWN && now >= c->t_connect) {
            conn_start(r, c, now);
        } else if (c->state == C_CONNECTING && now - c->t_connect > r->o->timeout_ns) {
            note(r, E_CONNECT, "connect timed out");
            conn_close_fd(c);
            c->state = C_DOWN;
            c->t_connect = now;
        } else if (c->state == C_OPEN && c->qsent > 0 &&
                   now - c->q[c->qhead].t_sent > r->o->timeout_ns) {
            conn_fail(r, c, E_TIMEOUT, now, "no response within --timeout");
        }
    }
    if (!r->stopping) {
        bool stop = g_stop != 0;
        if (r->open_loop)
            stop = stop || r->k_due >= r->k_end;
        else if (r->o->count)
            stop = stop || r->issued >= r->o->count;
        else
            stop = stop || now >= r->t_end;
        if (stop) {
            r->stopping = true;
            if (r->open_loop && r->k_due < r->k_end)
                r->k_end = r->k_due; /* interrupted: release nothing more */
            if (g_stop && (r->t_end == 0 || now < r->t_end))
                r->t_end = now;
            r->drain_deadline = now + r->o->timeout_ns;
        }
    }
    if (!r->stopping)
        return false;
    bool pending = r->inflight > 0;
    if (r->open_loop)
        for (size_t i = 0; i < r->nconn && !pending; i++)
            pending = r->conns[i].next_seq < r->k_end;
    if (pending && now < r->drain_deadline && g_stop < 2)
        return false;
    /* whatever is still queued or unsent now has waited past the deadline */
    uint64_t lost = r->inflight;
    if (r->open_loop)
        for (size_t i = 0; i < r->nconn; i++)
            if (r->conns[i].next_seq < r->k_end)
                lost += (r->k_end - r->conns[i].next_seq + r->nconn - 1) / r->nconn;
    if (lost)
        note(r, E_TIMEOUT, "%llu requests unanswered at the end of the drain",
             (unsigned long long)lost);
    r->err[E_TIMEOUT] += lost > 0 ? lost - 1 : 0;
    return true;
}

static int run_loop(struct run *r)
{
    struct epoll_event ev[MAX_EVENTS];
    uint64_t now = mono_ns();
    r->t0 = now;
    r->t_measure = now + (uint64_t)(r->o->warmup * 1e9);
    if (r->open_loop) {
        r->ns_per_req = 1e9 / r->o->rate;
        r->k_end =
            r->o->count ? r->o->count : (uint64_t)((r->o->warmup + r->o->duration) * r->o->rate);
        r->t_end = r->t0 + (uint64_t)((double)r->k_end * r->ns_per_req);
    } else if (!r->o->count) {
        r->t_end = r->t_measure + (uint64_t)(r->o->duration * 1e9);
    }
    for (size_t i = 0; i < r->nconn; i++) {
        r->conns[i].next_seq = i;
        conn_start(r, &r->conns[i], now);
    }
    uint64_t next_tick = now;
    uint64_t verify_avg = 100000; /* ns, refined as samples are verified */
    uint64_t last_event = now;
    for (;;) {
        now = mono_ns();
        uint64_t issued_before = r->issued;
        if (now >= next_tick) {
            if (housekeeping(r, now))
                break;
            next_tick = now + TICK_NS;
        }
        uint64_t wake = next_tick;
        if (r->open_loop) {
            while (r->k_due < r->k_end &&
                   r->t0 + (uint64_t)((double)r->k_due * r->ns_per_req) <= now) {
                mark_dirty(r, &r->conns[r->k_due % r->nconn]);
                r->k_due++;
            }
            issue_dirty(r, now);
            if (r->k_due < r->k_end) {
                uint64_t t = r->t0 + (uint64_t)((double)r->k_due * r->ns_per_req);
                if (t < wake)
                    wake = t;
            }
            /* verify in the gaps when the next send is far enough away */
            if (r->ring.count && wake > now && wake - now > 3 * verify_avg + 200000) {
                verify_one_timed(r);
                if (r->verify_n_load)
                    verify_avg = r->verify_ns_load / r->verify_n_load;
                continue;
            }
        }
        if (g_stop && !r->stopping)
            wake = now;
        /*
         * --spin-us: poll rather than sleep while the last event or the next
         * send is that close; on a VM a halted CPU takes tens of microseconds
         * to wake, which would add to every latency and slow a closed loop.
         */
        bool block = wake > now && wake - now > r->o->spin_ns && now - last_event >= r->o->spin_ns;
        struct timespec ts = {0, 0};
        if (block) {
            ts.tv_sec = (time_t)((wake - now) / 1000000000ull);
            ts.tv_nsec = (long)((wake - now) % 1000000000ull);
        }
        uint64_t before = mono_ns();
        int n = epoll_pwait2(r->ep, ev, MAX_EVENTS, &ts, NULL);
        uint64_t after = mono_ns();
        if (block) /* time in a call that could block counts as idle */
            r->idle_ns += after - before;
        else if (n == 0 && r->issued == issued_before)
            r->idle_ns += after - now; /* an empty spin */
        if (n > 0 || r->issued != issued_before)
            last_event = after;
        if (n <= 0) {
            if (n < 0 && errno != EINTR) {
                fprintf(stderr, "ocspload: epoll_pwait2: %s\n", strerror(errno));
                return -1;
            }
            continue;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = ev[i].data.ptr;
            uint32_t gen = c->gen;
            if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                if (c->state == C_OPEN)
                    conn_readable(r, c);
                else if (c->state == C_CONNECTING)
                    conn_writable(r, c);
            }
            if (c->gen == gen && c->fd >= 0 && (ev[i].events & EPOLLOUT))
                conn_writable(r, c);
        }
        issue_dirty(r, mono_ns());
    }
    r->wall_ns = mono_ns() - r->t0;
    return 0;
}

/* ---- reporting ------------------------------------------------------------------------------ */

static void fmt_ns(char *buf, size_t n, uint64_t ns)
{
    if (ns < 10000)
        snprintf(buf, n, "%.2fus", (double)ns / 1e3);
    else if (ns < 10000000)
        snprintf(buf, n, "%.1fus", (double)ns / 1e3);
    else
        snprintf(buf, n, "%.2fms", (double)ns / 1e6);
}

static void fmt_bytes(char *buf, size_t n, double b)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t i = 0;
    while (b >= 1024 && i < 4) {
        b /= 1024;
        i++;
    }
    snprintf(buf, n, "%.2f %s", b, u[i]);
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static const char *method_str(enum method m)
{
    return m == M_POST ? "POST" : m == M_GET ? "GET" : "mix";
}

struct summary {
    double window_s, rps, rx_bps, cpu_frac, idle_frac, runq_frac, busy_frac;
    uint64_t errors;
    bool limited;
};

static void summarize(const struct run *r, struct summary *s)
{
    uint64_t end = r->t_end ? r->t_end : r->t_last_done;
    double w = end > r->t_measure ? (double)(end - r->t_measure) / 1e9 : 0.0;
    s->window_s = w;
    s->rps = w > 0 ? (double)r->ok_window / w : 0.0;
    s->rx_bps = w > 0 ? (double)r->bytes_rx_window / w : 0.0;
    double wall = (double)r->wall_ns / 1e9;
    s->cpu_frac = wall > 0 ? r->cpu_s / wall : 0.0;
    s->idle_frac = wall > 0 ? (double)r->idle_ns / 1e9 / wall : 0.0;
    s->runq_frac = wall > 0 && r->runq_ns >= 0 ? (double)r->runq_ns / 1e9 / wall : -1.0;
    /*
     * Busy: the share of the run the generator had work, from idleness when
     * it spins (spinning burns the core by design), else the larger of that
     * and the time it wanted a CPU (running, or waiting in the run queue).
     * At 90 % its own queueing starts to show in latency and rate, so the
     * numbers describe the generator as much as the server.
     */
    double busy = 1.0 - s->idle_frac;
    double wanted = s->cpu_frac + (s->runq_frac > 0 ? s->runq_frac : 0.0);
    if (r->o->spin_ns == 0 && wanted > busy)
        busy = wanted;
    s->busy_frac = busy > 1.0 ? 1.0 : busy < 0.0 ? 0.0 : busy;
    s->limited = s->busy_frac >= 0.90;
    s->errors = 0;
    for (int k = 0; k < E_KINDS; k++)
        s->errors += r->err[k];
}

static void report_human(FILE *f, const struct run *r, const struct summary *s)
{
    const struct opts *o = r->o;
    char a[32], b[32], c[32], d[32], e[32], g[32], m[32];
    fprintf(f, "ocspload: %s loop against %s:%s%s%s, %zu connections x depth %u, %s%s\n",
            r->open_loop ? "open" : "closed", o->target_host, o->target_port, o->label ? " " : "",
            o->label ? o->label : "", r->nconn, r->depth, method_str(o->method),
            o->ocsp_check ? "" : " (no OCSP check)");
    if (r->open_loop)
        fprintf(f, "  target rate %.0f req/s; ", o->rate);
    else
        fprintf(f, "  ");
    fprintf(f, "window %.2f s after %.2f s warmup; %zu requests in the set (%zu distinct)\n",
            s->window_s, o->warmup, r->set->n, r->set->n_distinct);
    fmt_bytes(a, sizeof(a), s->rx_bps);
    fmt_bytes(b, sizeof(b), (double)r->bytes_tx);
    fprintf(f, "  requests/s: %.1f   ok: %llu   body bytes/s: %s   responses: %llu   sent: %s\n",
            s->rps, (unsigned long long)r->ok, a, (unsigned long long)r->responses, b);
    const struct ol_hist *h = &r->lat;
    fmt_ns(a, sizeof(a), ol_hist_quantile(h, 0.50));
    fmt_ns(b, sizeof(b), ol_hist_quantile(h, 0.90));
    fmt_ns(c, sizeof(c), ol_hist_quantile(h, 0.99));
    fmt_ns(d, sizeof(d), ol_hist_quantile(h, 0.999));
    fmt_ns(e, sizeof(e), h->max);
    fmt_ns(g, sizeof(g), (uint64_t)ol_hist_mean(h));
    fmt_ns(m, sizeof(m), h->min);
    fprintf(f, "  latency: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s, min %s)%s\n", a, b,
            c, d, e, g, m, r->open_loop ? " from intended send time" : "");
    if (r->open_loop) {
        fmt_ns(a, sizeof(a), ol_hist_quantile(&r->lag, 0.5));
        fmt_ns(b, sizeof(b), ol_hist_quantile(&r->lag, 0.99));
        fmt_ns(c, sizeof(c), r->lag.max);
        fprintf(f, "  send lag behind schedule: p50 %s  p99 %s  max %s\n", a, b, c);
        fmt_ns(a, sizeof(a), ol_hist_quantile(&r->lat_sent, 0.5));
        fmt_ns(b, sizeof(b), ol_hist_quantile(&r->lat_sent, 0.99));
        fmt_ns(c, sizeof(c), ol_hist_quantile(&r->lat_sent, 0.999));
        fmt_ns(d, sizeof(d), r->lat_sent.max);
        fprintf(f, "  latency from actual send: p50 %s  p99 %s  p99.9 %s  max %s\n", a, b, c, d);
    }
    fprintf(f, "  errors: %llu (", (unsigned long long)s->errors);
    for (int k = 0; k < E_KINDS; k++)
        fprintf(f, "%s%s %llu", k ? ", " : "", ERR_NAME[k], (unsigned long long)r->err[k]);
    fprintf(f, ")\n");
    for (int st = 0; st < 1000; st++)
        if (r->status_count[st])
            fprintf(f, "    HTTP %d: %llu\n", st, (unsigned long long)r->status_count[st]);
    for (int k = 0; k < E_KINDS; k++)
        for (unsigned i = 0; i < r->n_msgs[k]; i++)
            fprintf(f, "    %s: %s\n", ERR_NAME[k], r->msgs[k][i]);
    fprintf(f, "  connections: %llu opened, %llu closed by the server, %llu requests resent%s\n",
            (unsigned long long)r->connects, (unsigned long long)r->server_closes,
            (unsigned long long)r->retried,
            r->nonpersistent ? "; server closes connections: pipelining limited to 1" : "");
    if (o->ocsp_check)
        fprintf(f,
                "  verify: %llu sampled (%llu first-of-distinct), %llu ok, %llu failed, %llu "
                "skipped (ring full), %llu stalls; %llu verified during the load\n",
                (unsigned long long)r->sampled, (unsigned long long)r->sampled_first,
                (unsigned long long)r->verified, (unsigned long long)r->verify_failed,
                (unsigned long long)r->sample_skipped, (unsigned long long)r->stalls,
                (unsigned long long)r->verify_n_load);
    fprintf(f,
            "  generator: cpu %.2f s over %.2f s = %.1f%% of one core, loop idle %.1f%%%s, busy "
            "%.0f%% -> generator-limited: %s\n",
            r->cpu_s, (double)r->wall_ns / 1e9, 100 * s->cpu_frac, 100 * s->idle_frac,
            o->spin_ns    ? " (spinning)"
            : o->cpu >= 0 ? ""
                          : " (not pinned)",
            100 * s->busy_frac, s->limited ? "yes" : "no");
    if (s->runq_frac >= 0.05)
        fprintf(f,
                "  WARNING: the generator waited %.1f%% of the run for a CPU (other processes on "
                "its core): results are noisy, and the rate may be the generator's\n",
                100 * s->runq_frac);
}

static void json_hist(FILE *f, const char *name, const struct ol_hist *h)
{
    fprintf(f,
            "\"%s\":{\"count\":%llu,\"min\":%llu,\"mean\":%.0f,\"p50\":%llu,\"p90\":%llu,"
            "\"p99\":%llu,\"p999\":%llu,\"max\":%llu}",
            name, (unsigned long long)h->count, (unsigned long long)h->min, ol_hist_mean(h),
            (unsigned long long)ol_hist_quantile(h, 0.5),
            (unsigned long long)ol_hist_quantile(h, 0.9),
            (unsigned long long)ol_hist_quantile(h, 0.99),
            (unsigned long long)ol_hist_quantile(h, 0.999), (unsigned long long)h->max);
}

static void report_json(FILE *f, const struct run *r, const struct summary *s)
{
    const struct opts *o = r->o;
    fprintf(f, "{\"tool\":\"ocspload\",\"label\":");
    json_str(f, o->label ? o->label : "");
    fprintf(f, ",\"target\":");
    char t[400];
    snprintf(t, sizeof(t), "%s:%s", o->target_host, o->target_port);
    json_str(f, t);
    fprintf(f, ",\"path\":");
    json_str(f, o->path);
    fprintf(f,
            ",\"mode\":\"%s\",\"connections\":%zu,\"depth\":%u,\"method\":\"%s\","
            "\"get_fraction\":%g,\"rate_target\":%.3f,\"ocsp_check\":%s,\"warmup_s\":%.3f,"
            "\"window_s\":%.6f,\"requests_in_set\":%zu,\"distinct_requests\":%zu,",
            r->open_loop ? "open" : "closed", r->nconn, r->depth, method_str(o->method),
            o->method == M_MIX   ? o->get_fraction
            : o->method == M_GET ? 1.0
                                 : 0.0,
            r->open_loop ? o->rate : 0.0, o->ocsp_check ? "true" : "false", o->warmup, s->window_s,
            r->set->n, r->set->n_distinct);
    fprintf(f,
            "\"rps\":%.3f,\"ok\":%llu,\"ok_in_window\":%llu,\"responses\":%llu,\"issued\":%llu,"
            "\"body_bytes_per_s\":%.1f,\"bytes_rx\":%llu,\"bytes_tx\":%llu,",
            s->rps, (unsigned long long)r->ok, (unsigned long long)r->ok_window,
            (unsigned long long)r->responses, (unsigned long long)r->issued, s->rx_bps,
            (unsigned long long)r->bytes_rx, (unsigned long long)r->bytes_tx);
    json_hist(f, "latency_ns", &r->lat);
    if (r->open_loop) {
        fputc(',', f);
        json_hist(f, "send_lag_ns", &r->lag);
        fputc(',', f);
        json_hist(f, "latency_from_send_ns", &r->lat_sent);
    }
    fprintf(f, ",\"errors\":{\"total\":%llu", (unsigned long long)s->errors);
    for (int k = 0; k < E_KINDS; k++)
        fprintf(f, ",\"%s\":%llu", ERR_NAME[k], (unsigned long long)r->err[k]);
    fprintf(f, "},\"http_status\":{");
    bool first = true;
    for (int st = 0; st < 1000; st++)
        if (r->status_count[st]) {
            fprintf(f, "%s\"%d\":%llu", first ? "" : ",", st,
                    (unsigned long long)r->status_count[st]);
            first = false;
        }
    fprintf(f, "},\"error_examples\":[");
    first = true;
    for (int k = 0; k < E_KINDS; k++)
        for (unsigned i = 0; i < r->n_msgs[k]; i++) {
            char line[300];
            snprintf(line, sizeof(line), "%s: %s", ERR_NAME[k], r->msgs[k][i]);
            if (!first)
                fputc(',', f);
            json_str(f, line);
            first = false;
        }
    fprintf(f,
            "],\"connections_opened\":%llu,\"server_closes\":%llu,\"resent\":%llu,"
            "\"server_nonpersistent\":%s,",
            (unsigned long long)r->connects, (unsigned long long)r->server_closes,
            (unsigned long long)r->retried, r->nonpersistent ? "true" : "false");
    fprintf(
        f,
        "\"verify\":{\"enabled\":%s,\"fraction\":%g,\"sampled\":%llu,\"first_of_distinct\":%llu,"
        "\"ok\":%llu,\"failed\":%llu,\"skipped_ring_full\":%llu,\"stalls\":%llu,"
        "\"during_load\":%llu},",
        r->ver ? "true" : "false", o->verify_fraction, (unsigned long long)r->sampled,
        (unsigned long long)r->sampled_first, (unsigned long long)r->verified,
        (unsigned long long)r->verify_failed, (unsigned long long)r->sample_skipped,
        (unsigned long long)r->stalls, (unsigned long long)r->verify_n_load);
    fprintf(f,
            "\"generator\":{\"cpu_s\":%.3f,\"wall_s\":%.3f,\"cpu_fraction\":%.4f,"
            "\"idle_fraction\":%.4f,\"runq_wait_fraction\":%.4f,\"busy_fraction\":%.4f,"
            "\"pinned_cpu\":%d,\"spin_us\":%llu,\"limited\":%s}}\n",
            r->cpu_s, (double)r->wall_ns / 1e9, s->cpu_frac, s->idle_frac, s->runq_frac,
            s->busy_frac, o->cpu, (unsigned long long)(o->spin_ns / 1000),
            s->limited ? "true" : "false");
}

/* ---- setup --------------------------------------------------------------------------------------
 */

/* Nanoseconds this thread has spent runnable but not running (schedstat), or -1. */
static int64_t runq_wait_ns(void)
{
    FILE *f = fopen("/proc/thread-self/schedstat", "r");
    if (!f)
        return -1;
    unsigned long long run, wait;
    int n = fscanf(f, "%llu %llu", &run, &wait);
    fclose(f);
    return n == 2 ? (int64_t)wait : -1;
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int setup_conns(struct run *r)
{
    r->conns = calloc(r->nconn, sizeof(*r->conns));
    r->dirty = calloc(r->nconn, sizeof(*r->dirty));
    if (!r->conns || !r->dirty)
        return -1;
    r->wcap = (size_t)r->depth * r->set->max_http_len;
    for (size_t i = 0; i < r->nconn; i++) {
        struct conn *c = &r->conns[i];
        c->fd = -1;
        c->q = calloc(r->depth, sizeof(*c->q));
        c->wbuf = malloc(r->wcap);
        c->rbuf = malloc(r->o->rbuf);
        if (!c->q || !c->wbuf || !c->rbuf)
            return -1;
        /* touch the pages now, not in the measured loop */
        memset(c->wbuf, 0, r->wcap);
        memset(c->rbuf, 0, r->o->rbuf);
    }
    return 0;
}

static void free_conns(struct run *r)
{
    if (!r->conns)
        return;
    for (size_t i = 0; i < r->nconn; i++) {
        if (r->conns[i].fd >= 0)
            close(r->conns[i].fd);
        free(r->conns[i].q);
        free(r->conns[i].wbuf);
        free(r->conns[i].rbuf);
    }
    free(r->conns);
    free(r->dirty);
}

static int resolve(struct run *r)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(r->o->target_host, r->o->target_port, &hints, &ai);
    if (rc != 0 || !ai) {
        fprintf(stderr, "ocspload: %s:%s: %s\n", r->o->target_host, r->o->target_port,
                gai_strerror(rc));
        return -1;
    }
    memcpy(&r->addr, ai->ai_addr, ai->ai_addrlen);
    r->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static void raise_nofile(size_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < want + 64) {
        rl.rlim_cur = rl.rlim_max < want + 64 ? rl.rlim_max : want + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int run_main(const struct opts *o)
{
    static struct run run; /* large (histograms); one per process */
    struct run *r = &run;
    struct ol_reqset set;
    char err[512];
    int rc = 2;

    memset(r, 0, sizeof(*r));
    r->o = o;
    r->set = &set;
    r->ep = -1;
    r->nconn = o->conns;
    r->depth = o->depth;
    r->open_loop = o->rate > 0;
    r->rng = o->seed ? o->seed : 0x9e3779b97f4a7c15ull;

    if (o->requests) {
        if (ol_reqset_load(&set, o->requests, err, sizeof(err)) != 0) {
            fprintf(stderr, "ocspload: %s\n", err);
            return 2;
        }
    } else if (ol_reqset_fixed(&set, err, sizeof(err)) != 0) {
        fprintf(stderr, "ocspload: %s\n", err);
        return 2;
    }
    if (ol_reqset_build_http(&set, o->host_header, o->path, o->extra, o->n_extra, err,
                             sizeof(err)) != 0) {
        fprintf(stderr, "ocspload: %s\n", err);
        goto out;
    }
    if (o->ocsp_check && o->verify) {
        r->ver = ol_verifier_new(o->ca, o->untrusted, err, sizeof(err));
        if (!r->ver) {
            fprintf(stderr, "ocspload: %s\n", err);
            goto out;
        }
        r->ring.cap = o->verify_buffer;
        r->ring.buf = malloc(r->ring.cap);
        r->first_seen = calloc(set.n_distinct, 1);
        if (!r->ring.buf || !r->first_seen) {
            fprintf(stderr, "ocspload: out of memory for the verify buffer\n");
            goto out;
        }
        memset(r->ring.buf, 0, r->ring.cap);
    }
    if (resolve(r) != 0)
        goto out;
    raise_nofile(r->nconn);
    if (setup_conns(r) != 0) {
        fprintf(stderr, "ocspload: out of memory for %zu connections\n", r->nconn);
        goto out;
    }
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    if (r->ep < 0) {
        fprintf(stderr, "ocspload: epoll_create1: %s\n", strerror(errno));
        goto out;
    }
    if (o->cpu >= 0) {
        cpu_set_t cs;
        CPU_ZERO(&cs);
        CPU_SET(o->cpu, &cs);
        if (sched_setaffinity(0, sizeof(cs), &cs) != 0) {
            fprintf(stderr, "ocspload: sched_setaffinity(%d): %s\n", o->cpu, strerror(errno));
            goto out;
        }
    }
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); /* open-loop sends on time */
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_sigint};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    int64_t rq0 = runq_wait_ns();
    if (run_loop(r) != 0)
        goto out;
    getrusage(RUSAGE_SELF, &ru1);
    int64_t rq1 = runq_wait_ns();
    r->runq_ns = rq0 >= 0 && rq1 >= rq0 ? rq1 - rq0 : -1;
    r->cpu_s = tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime) + tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime);

    /* off the clock: verify what the load left in the ring */
    if (r->ver)
        while (verify_one(r))
            ;

    struct summary s;
    summarize(r, &s);
    report_human(o->json ? stderr : stdout, r, &s);
    if (o->json)
        report_json(stdout, r, &s);
    fflush(stdout);
    if (r->err[E_WRONG] || r->err[E_VERIFY])
        rc = 1;
    else if (s.errors)
        rc = 3;
    else if (r->ok == 0)
        rc = 3;
    else
        rc = 0;
out:
    if (r->ep >= 0)
        close(r->ep);
    free_conns(r);
    ol_verifier_free(r->ver);
    free(r->ring.buf);
    free(r->first_seen);
    ol_reqset_free(&set);
    return rc;
}

/* ---- command line
 * ---------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: ocspload gen --issuer CA.pem --index index.txt --out REQS --n N\n"
        "                    [--sha256-fraction F] [--unknown-fraction F]\n"
        "                    [--unknown-issuer-fraction F] [--revoked-fraction F] [--seed S]\n"
        "       ocspload [run] [options] HOST:PORT | http://HOST:PORT/PATH\n"
        "\n"
        "load (closed loop unless --rate):\n"
        "  -r, --requests FILE     request set from `ocspload gen` (required unless "
        "--no-ocsp-check)\n"
        "  -c, --connections N     connections (16)\n"
        "  -d, --depth N           requests in flight per connection, pipelined (1)\n"
        "  -t, --duration SEC      measured duration (10)\n"
        "  -n, --count N           send N requests in total instead of a duration\n"
        "  -R, --rate R            open loop: R requests/s in total, round-robin over "
        "connections;\n"
        "                          latency counts from each request's intended send time\n"
        "  -w, --warmup SEC        run this long before measuring (0)\n"
        "  -m, --method M          post | get (RFC 5019) | mix (post)\n"
        "      --get-fraction F    share of GETs with --method mix (0.5)\n"
        "  -p, --path PATH         request path, or GET prefix (/)\n"
        "  -H, --header 'N: V'     extra request header (repeatable)\n"
        "      --host-header H     Host header (HOST:PORT)\n"
        "      --timeout MS        per-request and connect timeout, and end-of-run drain (5000)\n"
        "      --rbuf BYTES        per-connection receive buffer (32768)\n"
        "      --spin-us N         poll instead of sleeping for N us after the last event, and\n"
        "                          while the next open-loop send is due within N us: no wake-up\n"
        "                          latency in the measurements, at the price of a busy core\n"
        "                          (20 with --cpu, else 0)\n"
        "      --cpu N             pin the generator to CPU N\n"
        "      --seed S            PRNG seed for the method mix and sampling\n"
        "checks:\n"
        "      --no-ocsp-check     any HTTP server: one fixed request, check 200 + Content-Length\n"
        "      --ca FILE           trust anchors for verification (root + issuing CA, PEM)\n"
        "      --untrusted FILE    extra certificates (e.g. a signer responses leave out)\n"
        "      --verify-fraction F share of responses fully verified (0.01), plus the first\n"
        "                          response to every distinct request\n"
        "      --no-verify         skip full verification (the fast check still runs)\n"
        "      --verify-buffer MB  buffer for sampled responses awaiting verification (64)\n"
        "      --unknown-expect P  unauthorized (RFC 5019, revokd) | unknown (certStatus, as\n"
        "                          `openssl ocsp`) | any (unauthorized)\n"
        "output:\n"
        "      --json              one JSON object on stdout (the summary goes to stderr)\n"
        "      --label S           name of the target in the report\n"
        "exit: 0 clean, 1 wrong OCSP answers or failed verification, 2 usage or setup, 3 other "
        "errors\n");
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int gen_main(int argc, char **argv)
{
    struct ol_gen_opts g = {.revoked_fraction = -1, .seed = 1};
    uint64_t n = 0;
    static const struct option lo[] = {
        {"issuer", required_argument, 0, 'i'},
        {"index", required_argument, 0, 'x'},
        {"out", required_argument, 0, 'o'},
        {"n", required_argument, 0, 'n'},
        {"sha256-fraction", required_argument, 0, 's'},
        {"unknown-fraction", required_argument, 0, 'u'},
        {"unknown-issuer-fraction", required_argument, 0, 'U'},
        {"revoked-fraction", required_argument, 0, 'v'},
        {"seed", required_argument, 0, 'S'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "i:x:o:n:h", lo, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'i':
            g.issuer = optarg;
            break;
        case 'x':
            g.index = optarg;
            break;
        case 'o':
            g.out = optarg;
            break;
        case 'n':
            bad = parse_u64(optarg, 1, 100000000, &n);
            break;
        case 's':
            bad = parse_double(optarg, 0, 1, &g.sha256_fraction);
            break;
        case 'u':
            bad = parse_double(optarg, 0, 1, &g.unknown_fraction);
            break;
        case 'U':
            bad = parse_double(optarg, 0, 1, &g.unknown_issuer_fraction);
            break;
        case 'v':
            bad = parse_double(optarg, 0, 1, &g.revoked_fraction);
            break;
        case 'S':
            bad = parse_u64(optarg, 0, UINT64_MAX, &g.seed);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "ocspload gen: bad value for option: %s\n", optarg);
            return 2;
        }
    }
    if (!g.issuer || !g.index || !g.out || n == 0 || optind != argc) {
        usage(stderr);
        return 2;
    }
    g.n = (size_t)n;
    char err[512];
    if (ol_gen(&g, err, sizeof(err)) != 0) {
        fprintf(stderr, "ocspload gen: %s\n", err);
        return 2;
    }
    return 0;
}

/* Splits HOST:PORT, [V6]:PORT or http://HOST:PORT/PATH into o. */
static int parse_target(char *t, struct opts *o, const char **path)
{
    if (strncmp(t, "http://", 7) == 0) {
        t += 7;
        char *slash = strchr(t, '/');
        if (slash) {
            *path = strdup(slash);
            *slash = '\0';
        }
    }
    snprintf(o->host_header, sizeof(o->host_header), "%s", t);
    char *colon;
    if (t[0] == '[') {
        char *rb = strchr(t, ']');
        if (!rb || rb[1] != ':')
            return -1;
        *rb = '\0';
        o->target_host = t + 1;
        colon = rb + 1;
    } else {
        colon = strrchr(t, ':');
        if (!colon)
            return -1;
        *colon = '\0';
        o->target_host = t;
    }
    o->target_port = colon + 1;
    return *o->target_host && *o->target_port ? 0 : -1;
}

static int run_cli(int argc, char **argv)
{
    static struct opts o;
    o = (struct opts){
        .path = NULL,
        .conns = 16,
        .depth = 1,
        .duration = 10,
        .method = M_POST,
        .get_fraction = 0.5,
        .ocsp_check = true,
        .verify = true,
        .verify_fraction = 0.01,
        .verify_buffer = (size_t)64 << 20,
        .unknown = OL_UNKNOWN_UNAUTHORIZED,
        .timeout_ns = 5000000000ull,
        .cpu = -1,
        .rbuf = 32768,
        .spin_ns = UINT64_MAX, /* unset: decided once --cpu is known */
    };
    const char *host_header = NULL;
    const char *url_path = NULL;
    enum {
        O_GETF = 1000,
        O_HOSTH,
        O_TIMEOUT,
        O_SPIN,
        O_RBUF,
        O_CPU,
        O_SEED,
        O_NOCHECK,
        O_CA,
        O_UNTR,
        O_VF,
        O_NOVERIFY,
        O_VBUF,
        O_UNK,
        O_JSON,
        O_LABEL
    };
    static const struct option lo[] = {
        {"requests", required_argument, 0, 'r'},
        {"connections", required_argument, 0, 'c'},
        {"depth", required_argument, 0, 'd'},
        {"duration", required_argument, 0, 't'},
        {"count", required_argument, 0, 'n'},
        {"rate", required_argument, 0, 'R'},
        {"warmup", required_argument, 0, 'w'},
        {"method", required_argument, 0, 'm'},
        {"get-fraction", required_argument, 0, O_GETF},
        {"path", required_argument, 0, 'p'},
        {"header", required_argument, 0, 'H'},
        {"host-header", required_argument, 0, O_HOSTH},
        {"timeout", required_argument, 0, O_TIMEOUT},
        {"spin-us", required_argument, 0, O_SPIN},
        {"rbuf", required_argument, 0, O_RBUF},
        {"cpu", required_argument, 0, O_CPU},
        {"seed", required_argument, 0, O_SEED},
        {"no-ocsp-check", no_argument, 0, O_NOCHECK},
        {"ca", required_argument, 0, O_CA},
        {"untrusted", required_argument, 0, O_UNTR},
        {"verify-fraction", required_argument, 0, O_VF},
        {"no-verify", no_argument, 0, O_NOVERIFY},
        {"verify-buffer", required_argument, 0, O_VBUF},
        {"unknown-expect", required_argument, 0, O_UNK},
        {"json", no_argument, 0, O_JSON},
        {"label", required_argument, 0, O_LABEL},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "r:c:d:t:n:R:w:m:p:H:h", lo, NULL)) != -1) {
        int bad = 0;
        uint64_t u;
        switch (ch) {
        case 'r':
            o.requests = optarg;
            break;
        case 'c':
            bad = parse_u64(optarg, 1, MAX_CONNS, &u);
            o.conns = (size_t)u;
            break;
        case 'd':
            bad = parse_u64(optarg, 1, MAX_DEPTH, &u);
            o.depth = (unsigned)u;
            break;
        case 't':
            bad = parse_double(optarg, 0.001, 86400 * 7, &o.duration);
            break;
        case 'n':
            bad = parse_u64(optarg, 1, UINT64_MAX / 2, &o.count);
            break;
        case 'R':
            bad = parse_double(optarg, 0.001, 1e9, &o.rate);
            break;
        case 'w':
            bad = parse_double(optarg, 0, 3600, &o.warmup);
            break;
        case 'm':
            if (strcmp(optarg, "post") == 0 || strcmp(optarg, "POST") == 0)
                o.method = M_POST;
            else if (strcmp(optarg, "get") == 0 || strcmp(optarg, "GET") == 0)
                o.method = M_GET;
            else if (strcmp(optarg, "mix") == 0)
                o.method = M_MIX;
            else
                bad = 1;
            break;
        case O_GETF:
            bad = parse_double(optarg, 0, 1, &o.get_fraction);
            break;
        case 'p':
            o.path = optarg;
            break;
        case 'H':
            if (o.n_extra == OL_EXTRA_HEADERS_MAX || !strchr(optarg, ':') ||
                strpbrk(optarg, "\r\n"))
                bad = 1;
            else
                o.extra[o.n_extra++] = optarg;
            break;
        case O_HOSTH:
            host_header = optarg;
            break;
        case O_TIMEOUT:
            bad = parse_u64(optarg, 1, 3600000, &u);
            o.timeout_ns = u * 1000000ull;
            break;
        case O_SPIN:
            bad = parse_u64(optarg, 0, 10000000, &u);
            o.spin_ns = u * 1000ull;
            break;
        case O_RBUF:
            bad = parse_u64(optarg, 1024, (uint64_t)1 << 30, &u);
            o.rbuf = (size_t)u;
            break;
        case O_CPU:
            bad = parse_u64(optarg, 0, CPU_SETSIZE - 1, &u);
            o.cpu = (int)u;
            break;
        case O_SEED:
            bad = parse_u64(optarg, 0, UINT64_MAX, &o.seed);
            break;
        case O_NOCHECK:
            o.ocsp_check = false;
            break;
        case O_CA:
            o.ca = optarg;
            break;
        case O_UNTR:
            o.untrusted = optarg;
            break;
        case O_VF:
            bad = parse_double(optarg, 0, 1, &o.verify_fraction);
            break;
        case O_NOVERIFY:
            o.verify = false;
            break;
        case O_VBUF:
            bad = parse_u64(optarg, 1, 65536, &u);
            o.verify_buffer = (size_t)u << 20;
            break;
        case O_UNK:
            if (strcmp(optarg, "unauthorized") == 0)
                o.unknown = OL_UNKNOWN_UNAUTHORIZED;
            else if (strcmp(optarg, "unknown") == 0)
                o.unknown = OL_UNKNOWN_CERTSTATUS;
            else if (strcmp(optarg, "any") == 0)
                o.unknown = OL_UNKNOWN_ANY;
            else
                bad = 1;
            break;
        case O_JSON:
            o.json = true;
            break;
        case O_LABEL:
            o.label = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "ocspload: bad value for option: %s\n", optarg);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    if (parse_target(argv[optind], &o, &url_path) != 0) {
        fprintf(stderr, "ocspload: target must be HOST:PORT or http://HOST:PORT/PATH\n");
        return 2;
    }
    if (!o.path)
        o.path = url_path ? url_path : "/";
    if (o.spin_ns == UINT64_MAX) /* spin only on a core the user dedicated to us */
        o.spin_ns = o.cpu >= 0 ? 20000 : 0;
    if (host_header)
        snprintf(o.host_header, sizeof(o.host_header), "%s", host_header);
    if (o.path[0] != '/' || strpbrk(o.path, " \r\n")) {
        fprintf(stderr, "ocspload: --path must start with '/' and hold no spaces\n");
        return 2;
    }
    if (o.ocsp_check && !o.requests) {
        fprintf(stderr, "ocspload: --requests is required (or --no-ocsp-check)\n");
        return 2;
    }
    if (o.ocsp_check && o.verify && !o.ca) {
        fprintf(stderr, "ocspload: --ca is required to verify responses (or --no-verify)\n");
        return 2;
    }
    if (o.warmup > 0 && o.count && !(o.rate > 0)) {
        fprintf(stderr, "ocspload: --warmup needs --duration or --rate with --count\n");
        return 2;
    }
    int rc = run_main(&o);
    free((void *)url_path);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "gen") == 0)
        return gen_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return run_cli(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    return run_cli(argc, argv);
}
