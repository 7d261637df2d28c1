/*
 * server_ev — the libev backend: one thread, one loop, non-blocking sockets.
 * Connection slots and their fixed buffers are allocated once at start (the
 * buffers in one MAP_NORESERVE mapping, so memory is committed only as slots are
 * used). A body too big for a slot's output buffer (a CRL) is sent from a
 * shared, reference-counted copy keyed by the store's hash of its bytes: however
 * many connections fetch one CRL, the process holds one copy of each version,
 * freed when the last connection is done with it, and sends it in bounded
 * chunks; SO_SNDBUF bounds what the kernel holds per socket. A readable
 * connection has every complete request in its read buffer answered in order
 * (pipelining), the responses appended to its output buffer, then one sendmsg.
 * While output is pending the connection is not read, so a client that sends
 * without reading cannot make the server buffer without bound; output still
 * unsent send_timeout after it was queued closes the connection. The store read
 * txn is renewed once per loop iteration (ev_check) and reset before the loop
 * blocks (ev_prepare), so responses are copied out of the map within the
 * iteration that produced them and no snapshot is pinned while idle. Time for
 * timeouts is CLOCK_MONOTONIC, read once per iteration (ev_now() follows the
 * wall clock, which NTP or a VM resume can step by hours). Open connections sit
 * on a list in order of last activity, those with output pending on a second
 * list in order of queueing; one timer closes those past either timeout.
 */
#include "server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "config.h"
#include "log.h"
#include "ocsp.h"

/* A whole request (largest head and largest body) always fits, so a full read
 * buffer always holds a complete request or a malformed one. */
#define SERVER_RBUF (HTTP_HEAD_MAX + OCSP_REQ_MAX)
/* Output buffer per connection: a pipelined burst of OCSP responses. */
#define SERVER_WBUF 16384
/* Stop taking pipelined requests once this much output waits: flush first. */
#define SERVER_WBUF_HIGH (SERVER_WBUF / 2)
/* Pause after accept fails for lack of descriptors or memory. */
#define SERVER_ACCEPT_RETRY 0.1
/* Most bytes of a shared body handed to one sendmsg. */
#define SERVER_CHUNK (64 * 1024)

#define SERVER_NS 1000000000LL

/*
 * A large response body shared by every connection sending it. Keyed blobs (a
 * CRL, keyed by the store's SHA-256 prefix of its bytes) are on the server's
 * list so the next connection asking for the same bytes takes a reference;
 * unkeyed ones (a large /metrics) belong to one connection.
 */
struct server_blob {
    struct server_blob *prev, *next;
    uint32_t refs;
    bool keyed;
    uint8_t key[STORE_ETAG_LEN];
    size_t len;
    uint8_t data[];
};

struct server;

struct server_conn {
    ev_io io; /* first: the callback gets &io and casts back */
    struct server *srv;
    int fd;
    uint8_t *rbuf; /* SERVER_RBUF bytes */
    size_t rlen;
    uint8_t *wbuf; /* SERVER_WBUF bytes; [woff, wlen) not yet sent */
    size_t wlen, woff;
    struct server_blob *blob; /* body sent after wbuf, for a response that does not fit */
    size_t blob_off;
    int64_t last;                      /* last progress, monotonic ns, for the idle timeout */
    int64_t out_since;                 /* when pending output was queued, for the send timeout */
    bool on_out;                       /* on the output list (output pending) */
    struct server_conn *oprev, *onext; /* output list */
    bool eof;                          /* the peer shut its sending side */
    bool close_after;                  /* close once the output is sent */
    bool deferred;                     /* requests left in rbuf until the output drains */
    bool continued;                    /* 100 Continue sent for the request at rbuf[0] */
    bool lingering;                    /* output done, write side shut: draining input until EOF */
    struct server_conn *prev, *next;   /* activity list when open, free list when not */
};

struct server {
    struct ev_loop *loop;
    struct handler *h;
    int lfd;
    ev_io accept_io;
    ev_timer accept_retry;
    ev_timer sweep;
    ev_timer drain;
    ev_signal sigterm, sigint;
    ev_prepare prepare;
    ev_check check;
    int64_t idle, send;        /* timeouts, ns */
    uint32_t sndbuf;           /* SO_SNDBUF for accepted sockets, 0 to leave it */
    int64_t mono;              /* CLOCK_MONOTONIC ns, read once per loop iteration */
    struct server_blob *blobs; /* keyed shared bodies in use */
    struct server_conn *conns;
    uint32_t max_conns, n_open;
    struct server_conn *free_list;
    struct server_conn *head, *tail;   /* open conns, least recently active first */
    struct server_conn *ohead, *otail; /* conns with output pending, oldest first */
    uint8_t *slab;
    size_t slab_len;
    bool stopping;
    int64_t last_warn;
    uint8_t hdr[HANDLER_HDR_MAX]; /* handler writes headers here; copied to the conn */
};

static int64_t server_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * SERVER_NS + ts.tv_nsec;
}

/* Warn at most once a second; the rest goes to debug so a flood cannot fill the log. */
static enum log_level server_warn_level(struct server *s)
{
    if (s->last_warn && s->mono - s->last_warn < SERVER_NS)
        return LOG_DEBUG;
    s->last_warn = s->mono;
    return LOG_WARN;
}

/* A reference to the shared copy of body (keyed) or a private copy; NULL if out of memory. */
static struct server_blob *server_blob_get(struct server *s, const uint8_t *key,
                                           const uint8_t *body, size_t len)
{
    struct server_blob *b;
    for (b = key ? s->blobs : NULL; b; b = b->next) {
        if (b->len == len && memcmp(b->key, key, STORE_ETAG_LEN) == 0) {
            b->refs++;
            return b;
        }
    }
    b = malloc(sizeof(*b) + len); /* once per distinct body, not per connection */
    if (!b)
        return NULL;
    memcpy(b->data, body, len);
    b->len = len;
    b->refs = 1;
    b->keyed = key != NULL;
    b->prev = NULL;
    b->next = NULL;
    if (key) {
        memcpy(b->key, key, STORE_ETAG_LEN);
        b->next = s->blobs;
        if (s->blobs)
            s->blobs->prev = b;
        s->blobs = b;
    }
    return b;
}

static void server_blob_put(struct server *s, struct server_blob *b)
{
    if (--b->refs > 0)
        return;
    if (b->keyed) {
        if (b->prev)
            b->prev->next = b->next;
        else
            s->blobs = b->next;
        if (b->next)
            b->next->prev = b->prev;
    }
    free(b);
}

/* Output pending: the send timeout runs from now until all of it is sent. */
static void server_out_start(struct server_conn *c)
{
    struct server *s = c->srv;
    if (c->on_out)
        return;
    c->on_out = true;
    c->out_since = s->mono;
    c->onext = NULL;
    c->oprev = s->otail;
    if (s->otail)
        s->otail->onext = c;
    else
        s->ohead = c;
    s->otail = c;
}

static void server_out_done(struct server_conn *c)
{
    struct server *s = c->srv;
    if (!c->on_out)
        return;
    c->on_out = false;
    if (c->oprev)
        c->oprev->onext = c->onext;
    else
        s->ohead = c->onext;
    if (c->onext)
        c->onext->oprev = c->oprev;
    else
        s->otail = c->oprev;
    c->oprev = c->onext = NULL;
}

static void server_list_remove(struct server *s, struct server_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        s->tail = c->prev;
    c->prev = c->next = NULL;
}

static void server_list_append(struct server *s, struct server_conn *c)
{
    c->prev = s->tail;
    c->next = NULL;
    if (s->tail)
        s->tail->next = c;
    else
        s->head = c;
    s->tail = c;
}

static void server_touch(struct server_conn *c)
{
    struct server *s = c->srv;
    c->last = s->mono;
    if (s->tail != c) {
        server_list_remove(s, c);
        server_list_append(s, c);
    }
}

static void server_accept_resume(struct server *s)
{
    if (!s->stopping && s->lfd >= 0 && s->free_list && !ev_is_active(&s->accept_io) &&
        !ev_is_active(&s->accept_retry))
        ev_io_start(s->loop, &s->accept_io);
}

static void server_conn_close(struct server_conn *c)
{
    struct server *s = c->srv;
    ev_io_stop(s->loop, &c->io);
    close(c->fd);
    if (c->blob)
        server_blob_put(s, c->blob);
    c->blob = NULL;
    c->fd = -1;
    server_out_done(c);
    server_list_remove(s, c);
    c->next = s->free_list;
    s->free_list = c;
    s->n_open--;
    s->h->conns_open--;
    if (s->stopping && s->n_open == 0)
        ev_break(s->loop, EVBREAK_ALL);
    server_accept_resume(s);
}

static bool server_conn_idle(const struct server_conn *c)
{
    return c->rlen == 0 && c->wlen == c->woff && !c->blob;
}

/*
 * Appends one response: all of it to wbuf if it fits, else the head to wbuf and
 * the body as a reference to a shared blob (key, from the handler, names the
 * bytes). Only one blob at a time: the request loop stops while one is pending,
 * which also leaves wbuf at least SERVER_WBUF - SERVER_WBUF_HIGH bytes for the head.
 */
static int server_conn_queue(struct server_conn *c, const uint8_t *hdr, size_t hdr_len,
                             const uint8_t *body, size_t body_len, const uint8_t *key)
{
    if (c->blob || SERVER_WBUF - c->wlen < hdr_len)
        return -ENOBUFS; /* cannot happen: see server_conn_process */
    bool fits = SERVER_WBUF - c->wlen - hdr_len >= body_len;
    if (!fits && !(c->blob = server_blob_get(c->srv, key, body, body_len)))
        return -ENOMEM;
    c->blob_off = 0;
    memcpy(c->wbuf + c->wlen, hdr, hdr_len);
    c->wlen += hdr_len;
    if (fits && body_len) {
        memcpy(c->wbuf + c->wlen, body, body_len);
        c->wlen += body_len;
    }
    server_out_start(c);
    return 0;
}

/*
 * Answers every complete request at the front of rbuf, in order, while output
 * room lasts (c->deferred says requests were left for after a flush). Returns 0
 * or a negative errno, after which the connection is dropped.
 */
static int server_conn_process(struct server_conn *c)
{
    struct server *s = c->srv;
    size_t off = 0;
    int rc = 0;

    c->deferred = false;
    while (rc == 0 && !c->close_after && off < c->rlen) {
        if (c->blob || c->wlen > SERVER_WBUF_HIGH) {
            c->deferred = true;
            break;
        }
        struct http_req req;
        struct http_out out = {.hdr = s->hdr, .hdr_cap = sizeof(s->hdr)};
        const uint8_t *p = c->rbuf + off;
        size_t left = c->rlen - off;
        int n = http_req_parse(p, left, &req);
        if (n == -2) {
            c->close_after = c->eof; /* the rest of the head will never come */
            break;
        }
        int st = n < 0 ? req.err_status : handler_head_check(&req);
        if (st) {
            /* Framing unknown or body refused: answer, drop the rest, close. */
            log_debug("fd %d: refused request (%d)", c->fd, st);
            rc = handler_error(s->h, &req, st, &out);
            off = c->rlen;
        } else if (left - (size_t)n < req.content_length) {
            if (c->eof) {
                c->close_after = true;
            } else if (req.expect_continue && left == (size_t)n && !c->continued) {
                /* Queued after earlier pipelined responses, so wire order holds. */
                rc = server_conn_queue(c, (const uint8_t *)HTTP_100_CONTINUE,
                                       sizeof(HTTP_100_CONTINUE) - 1, NULL, 0, NULL);
                c->continued = true;
            }
            break;
        } else {
            size_t need = (size_t)req.content_length;
            rc = handler_serve(s->h, &req, p + n, need, &out);
            off += (size_t)n + need;
            c->continued = false;
            server_touch(c); /* a complete request is progress; raw bytes are not */
        }
        /* Copy now: the body may point into the store map, valid only this batch. */
        if (rc == 0)
            rc = server_conn_queue(c, out.hdr, out.hdr_len, out.body, out.body_len, out.body_key);
        if (out.close)
            c->close_after = true;
    }
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    return rc;
}

/* Sends pending output. Returns 0 when all is sent, 1 if the socket is full, or -errno. */
static int server_conn_flush(struct server_conn *c)
{
    while (c->woff < c->wlen || c->blob) {
        struct iovec iov[2];
        size_t n = 0;
        if (c->woff < c->wlen)
            iov[n++] = (struct iovec){c->wbuf + c->woff, c->wlen - c->woff};
        if (c->blob) {
            size_t left = c->blob->len - c->blob_off;
            iov[n++] = (struct iovec){c->blob->data + c->blob_off,
                                      left < SERVER_CHUNK ? left : SERVER_CHUNK};
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = n};
        ssize_t k = sendmsg(c->fd, &mh, MSG_NOSIGNAL); /* EPIPE, not SIGPIPE */
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 1;
            return -errno;
        }
        server_touch(c);
        size_t sent = (size_t)k, w = c->wlen - c->woff;
        size_t from_w = sent < w ? sent : w;
        c->woff += from_w;
        sent -= from_w;
        if (c->woff == c->wlen)
            c->woff = c->wlen = 0;
        if (c->blob) {
            c->blob_off += sent;
            if (c->blob_off == c->blob->len) {
                server_blob_put(c->srv, c->blob);
                c->blob = NULL;
            }
        }
    }
    server_out_done(c);
    return 0;
}

static void server_conn_events(struct server_conn *c, int events)
{
    if ((c->io.events & (EV_READ | EV_WRITE)) == events && ev_is_active(&c->io))
        return;
    ev_io_stop(c->srv->loop, &c->io);
    ev_io_set(&c->io, c->fd, events);
    ev_io_start(c->srv->loop, &c->io);
}

/*
 * All output is sent and the connection should end. If the peer may still be
 * sending (a refused body, pipelined requests), closing now could make the
 * kernel answer its data with a RST that destroys our response in flight; so
 * shut the write side and read until EOF, bounded by the idle timeout.
 */
static void server_conn_finish(struct server_conn *c)
{
    if (c->eof || shutdown(c->fd, SHUT_WR) < 0) {
        server_conn_close(c);
        return;
    }
    c->lingering = true;
    c->rlen = 0;
    server_conn_events(c, EV_READ);
}

/* Runs requests and output until the connection waits on the peer. */
static void server_conn_drive(struct server_conn *c)
{
    struct server *s = c->srv;
    int rc;
    for (;;) {
        if ((rc = server_conn_process(c)) < 0)
            goto fail;
        if ((rc = server_conn_flush(c)) < 0)
            goto fail;
        if (rc == 1) {
            server_conn_events(c, EV_WRITE); /* and no reading until it drains */
            return;
        }
        if (!c->deferred)
            break;
    }
    if (c->close_after || c->eof) {
        server_conn_finish(c);
        return;
    }
    if (s->stopping && server_conn_idle(c)) {
        server_conn_close(c);
        return;
    }
    if (c->rlen == SERVER_RBUF) { /* cannot happen: a full buffer holds a whole request */
        rc = -ENOBUFS;
        goto fail;
    }
    server_conn_events(c, EV_READ);
    return;

fail:
    if (rc == -EPIPE || rc == -ECONNRESET)
        log_debug("fd %d: peer went away", c->fd);
    else
        log_msg(server_warn_level(s), "fd %d: dropping connection: %s", c->fd, strerror(-rc));
    server_conn_close(c);
}

static void server_conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct server_conn *c = (struct server_conn *)w;
    (void)loop;
    if (c->lingering) {
        ssize_t n = recv(c->fd, c->rbuf, SERVER_RBUF, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            server_conn_close(c);
        return;
    }
    if ((revents & EV_READ) && c->rlen < SERVER_RBUF) {
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, SERVER_RBUF - c->rlen, 0);
        if (n > 0) {
            c->rlen += (size_t)n;
        } else if (n == 0) {
            c->eof = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            log_debug("fd %d: recv: %s", c->fd, strerror(errno));
            server_conn_close(c);
            return;
        }
    }
    server_conn_drive(c);
}

static void server_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct server *s = w->data;
    (void)revents;
    for (;;) {
        if (!s->free_list) {
            /* All slots busy: leave the rest in the kernel queue until one frees. */
            ev_io_stop(loop, &s->accept_io);
            return;
        }
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return;
            if (e == EINTR || e == ECONNABORTED || e == EPROTO)
                continue;
            log_msg(server_warn_level(s), "accept: %s", strerror(e));
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                /* Retrying at once would spin: the listener stays readable. */
                ev_io_stop(loop, &s->accept_io);
                ev_timer_set(&s->accept_retry, SERVER_ACCEPT_RETRY, 0.);
                ev_timer_start(loop, &s->accept_retry);
            }
            return;
        }
        int one = 1, sndbuf = (int)s->sndbuf;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
            log_debug("fd %d: TCP_NODELAY: %s", fd, strerror(errno));
        /* Caps the kernel memory a client that never reads can pin (no autotuning). */
        if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0)
            log_debug("fd %d: SO_SNDBUF: %s", fd, strerror(errno));

        struct server_conn *c = s->free_list;
        s->free_list = c->next;
        c->fd = fd;
        c->rlen = c->wlen = c->woff = 0;
        c->blob = NULL;
        c->blob_off = 0;
        c->eof = c->close_after = c->deferred = c->continued = c->lingering = false;
        c->on_out = false;
        c->oprev = c->onext = NULL;
        c->last = s->mono;
        server_list_append(s, c);
        s->n_open++;
        s->h->conns_open++;
        s->h->conns_total++;
        ev_io_init(&c->io, server_conn_cb, fd, EV_READ);
        ev_io_start(loop, &c->io);
    }
}

static void server_accept_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct server *s = w->data;
    (void)loop;
    (void)revents;
    server_accept_resume(s);
}

/*
 * Closes connections with no progress for the idle timeout, and those whose
 * output has waited longer than the send timeout (a client that reads too
 * slowly to ever finish); both lists are oldest first. Monotonic time only.
 */
static void server_sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct server *s = w->data;
    (void)loop;
    (void)revents;
    s->mono = server_clock(CLOCK_MONOTONIC);
    while (s->head && s->mono - s->head->last >= s->idle) {
        log_debug("fd %d: idle timeout", s->head->fd);
        s->h->idle_timeouts++;
        server_conn_close(s->head);
    }
    while (s->ohead && s->mono - s->ohead->out_since >= s->send) {
        log_msg(server_warn_level(s), "fd %d: send timeout: the client does not read its answers",
                s->ohead->fd);
        s->h->send_timeouts++;
        server_conn_close(s->ohead);
    }
}

static void server_drain_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct server *s = w->data;
    (void)revents;
    log_warn("shutdown: closing %u connections still busy", s->n_open);
    ev_break(loop, EVBREAK_ALL);
}

/* SIGTERM/SIGINT: stop accepting, let in-flight requests finish, then return. */
static void server_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct server *s = w->data;
    (void)revents;
    if (s->stopping) {
        log_info("signal %d again: stopping now", w->signum);
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    log_info("signal %d: stopping (%u connections open)", w->signum, s->n_open);
    s->stopping = true;
    ev_io_stop(loop, &s->accept_io);
    ev_timer_stop(loop, &s->accept_retry);
    close(s->lfd);
    s->lfd = -1;
    for (struct server_conn *c = s->head, *next; c; c = next) {
        next = c->next;
        if (server_conn_idle(c) || c->lingering)
            server_conn_close(c);
    }
    if (s->n_open == 0) {
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    ev_timer_set(&s->drain, (double)s->idle / SERVER_NS, 0.);
    ev_timer_start(loop, &s->drain);
}

/* One store snapshot per loop iteration: taken lazily after the poll returns... */
static void server_check_cb(struct ev_loop *loop, ev_check *w, int revents)
{
    struct server *s = w->data;
    (void)loop;
    (void)revents;
    /* Read here, once per iteration, not per request: vDSO reads, but still. */
    s->mono = server_clock(CLOCK_MONOTONIC);
    handler_batch_begin(s->h, server_clock(CLOCK_REALTIME));
}

/* ...and released before the loop blocks, once every response is copied out. */
static void server_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct server *s = w->data;
    (void)loop;
    (void)revents;
    handler_batch_end(s->h);
}

int server_listen(const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int one = 1, fd = -1, rc = config_parse_addr(addr, &ss, &sl);
    if (rc < 0) {
        log_err("listen %s: not a numeric host:port", addr);
        return rc;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, SERVER_BACKLOG) < 0)
        goto fail;
    return fd;

fail:
    rc = -errno;
    log_err("listen %s: %s", addr, strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

static int server_ev_run(const struct server_params *p, struct handler *h)
{
    struct server *s = calloc(1, sizeof(*s));
    int rc = -ENOMEM;
    if (!s)
        return -ENOMEM;
    s->h = h;
    s->lfd = -1;
    s->slab = MAP_FAILED;
    s->max_conns = p->max_conns ? p->max_conns : 1;
    s->idle = (int64_t)p->idle_timeout_ms * 1000000;
    s->send = (int64_t)(p->send_timeout_ms ? p->send_timeout_ms : 60000) * 1000000;
    s->sndbuf = p->send_buffer;
    s->mono = server_clock(CLOCK_MONOTONIC);

    struct sigaction sa = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &sa, NULL); /* belt and braces: sends use MSG_NOSIGNAL */

    s->conns = calloc(s->max_conns, sizeof(*s->conns));
    s->slab_len = (size_t)s->max_conns * (SERVER_RBUF + SERVER_WBUF);
    s->slab = mmap(NULL, s->slab_len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (!s->conns || s->slab == MAP_FAILED) {
        log_err("cannot reserve %u connection slots", s->max_conns);
        goto fail;
    }
    for (uint32_t i = s->max_conns; i-- > 0;) {
        struct server_conn *c = &s->conns[i];
        c->srv = s;
        c->fd = -1;
        c->rbuf = s->slab + (size_t)i * (SERVER_RBUF + SERVER_WBUF);
        c->wbuf = c->rbuf + SERVER_RBUF;
        c->next = s->free_list;
        s->free_list = c;
    }
    if ((rc = server_listen(p->listen)) < 0)
        goto fail;
    s->lfd = rc;
    s->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
    if (!s->loop) {
        rc = -ENOMEM;
        log_err("libev: cannot create a loop");
        goto fail;
    }

    ev_io_init(&s->accept_io, server_accept_cb, s->lfd, EV_READ);
    ev_init(&s->accept_retry, server_accept_retry_cb);
    ev_init(&s->drain, server_drain_cb);
    double tick = (double)(s->idle < s->send ? s->idle : s->send) / SERVER_NS / 4;
    tick = tick < 0.05 ? 0.05 : tick > 1.0 ? 1.0 : tick;
    ev_timer_init(&s->sweep, server_sweep_cb, tick, tick);
    ev_signal_init(&s->sigterm, server_signal_cb, SIGTERM);
    ev_signal_init(&s->sigint, server_signal_cb, SIGINT);
    ev_prepare_init(&s->prepare, server_prepare_cb);
    ev_check_init(&s->check, server_check_cb);
    ev_set_priority(&s->check, EV_MAXPRI); /* before any I/O callback of the iteration */
    s->accept_io.data = s->accept_retry.data = s->drain.data = s->sweep.data = s;
    s->sigterm.data = s->sigint.data = s->prepare.data = s->check.data = s;
    ev_io_start(s->loop, &s->accept_io);
    ev_timer_start(s->loop, &s->sweep);
    ev_signal_start(s->loop, &s->sigterm);
    ev_signal_start(s->loop, &s->sigint);
    ev_prepare_start(s->loop, &s->prepare);
    ev_check_start(s->loop, &s->check);
    /* The prepare/check pair holds the loop alive on its own; that is fine: we
     * run until a signal, not until there is nothing left to watch. */

    log_info("listening on %s (backend libev, %u connection slots, idle timeout %u ms)", p->listen,
             s->max_conns, p->idle_timeout_ms);
    ev_run(s->loop, 0);
    log_info("stopped");
    rc = 0;

fail:
    s->stopping = true; /* closing the slots below must not restart accepting */
    if (s->conns) {
        for (uint32_t i = 0; i < s->max_conns; i++) {
            if (s->conns[i].fd >= 0)
                server_conn_close(&s->conns[i]);
        }
    }
    handler_batch_end(h);
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->loop)
        ev_loop_destroy(s->loop);
    if (s->slab != MAP_FAILED)
        munmap(s->slab, s->slab_len);
    free(s->conns);
    free(s);
    return rc;
}

const struct server_backend server_backend_ev = {"libev", server_ev_run};
