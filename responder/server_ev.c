/*
 * server_ev — the libev backend, the portable fallback: one loop per worker,
 * non-blocking sockets, connection state in conn.h. A readable connection has
 * every complete request in its read buffer answered in order (pipelining), the
 * responses appended to its output buffer, then one sendmsg. While output is
 * pending the connection is not read, so a client that sends without reading
 * cannot make the server buffer without bound; output still unsent
 * send_timeout after it was queued closes the connection. The store read txn
 * is renewed once per loop iteration (ev_check) and reset before the loop
 * blocks (ev_prepare), so responses are copied out of the map within the
 * iteration that produced them and no snapshot is pinned while idle. Time for
 * timeouts is CLOCK_MONOTONIC, read once per iteration (ev_now() follows the
 * wall clock, which NTP or a VM resume can step by hours); one timer closes
 * connections past either timeout.
 */
#include "server.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "conn.h"
#include "livesign.h"
#include "log.h"

/* Pause after accept fails for lack of descriptors or memory. */
#define SERVER_ACCEPT_RETRY 0.1

struct server;

struct server_io {
    ev_io io; /* first: the callback gets &io and casts back */
    struct server *srv;
    struct conn *c;
};

struct server {
    struct ev_loop *loop;
    struct server_worker *w;
    struct conn_pool pool;
    struct server_io *ios; /* per slot */
    int lfd;
    ev_io accept_io;
    ev_io wake_io;
    ev_timer accept_retry;
    ev_timer sweep;
    ev_timer drain;
    ev_prepare prepare;
    ev_check check;
    ev_io live_io; /* the revokd-signer socket, when live signing is on */
    uint32_t live_gen;
};

static void server_accept_resume(struct server *s)
{
    if (!s->pool.stopping && s->lfd >= 0 && s->pool.free_list && !ev_is_active(&s->accept_io) &&
        !ev_is_active(&s->accept_retry))
        ev_io_start(s->loop, &s->accept_io);
}

static void server_conn_close(struct server *s, struct conn *c)
{
    ev_io_stop(s->loop, &s->ios[c->slot].io);
    close(c->fd);
    conn_release(&s->pool, c);
    if (s->pool.stopping && s->pool.n_open == 0)
        ev_break(s->loop, EVBREAK_ALL);
    server_accept_resume(s);
}

/* Sends pending output. Returns 0 when all is sent, 1 if the socket is full, or -errno. */
static int server_conn_flush(struct server *s, struct conn *c)
{
    while (conn_out_pending(c)) {
        struct iovec iov[2];
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = conn_out_iov(c, iov)};
        ssize_t k = sendmsg(c->fd, &mh, MSG_NOSIGNAL); /* EPIPE, not SIGPIPE */
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 1;
            return -errno;
        }
        conn_sent(&s->pool, c, (size_t)k);
    }
    return 0;
}

static void server_conn_events(struct server *s, struct conn *c, int events)
{
    ev_io *io = &s->ios[c->slot].io;
    if ((io->events & (EV_READ | EV_WRITE)) == events && ev_is_active(io))
        return;
    ev_io_stop(s->loop, io);
    ev_io_set(io, c->fd, events);
    ev_io_start(s->loop, io);
}

/*
 * All output is sent and the connection should end. If the peer may still be
 * sending (a refused body, pipelined requests), closing now could make the
 * kernel answer its data with a RST that destroys our response in flight; so
 * shut the write side and read until EOF, bounded by the idle timeout.
 */
static void server_conn_finish(struct server *s, struct conn *c)
{
    if (c->eof || shutdown(c->fd, SHUT_WR) < 0) {
        server_conn_close(s, c);
        return;
    }
    c->lingering = true;
    c->rlen = 0;
    server_conn_events(s, c, EV_READ);
}

/* Runs requests and output until the connection waits on the peer. */
static void server_conn_drive(struct server *s, struct conn *c)
{
    int rc;
    for (;;) {
        if ((rc = conn_process(&s->pool, c)) < 0)
            goto fail;
        if ((rc = server_conn_flush(s, c)) < 0)
            goto fail;
        if (rc == 1) {
            server_conn_events(s, c, EV_WRITE); /* and no reading until it drains */
            return;
        }
        if (!c->deferred)
            break;
    }
    if (c->live_slot >= 0) { /* --- live signing hook: its answer drives us again --- */
        if (c->eof || c->rlen == CONN_RBUF)
            ev_io_stop(s->loop, &s->ios[c->slot].io); /* nothing to read, or no room */
        else
            server_conn_events(s, c, EV_READ);
        return;
    }
    if (c->close_after || c->eof) {
        server_conn_finish(s, c);
        return;
    }
    if (s->pool.stopping && conn_idle(c)) {
        server_conn_close(s, c);
        return;
    }
    if (c->rlen == CONN_RBUF) { /* cannot happen: a full buffer holds a whole request */
        rc = -ENOBUFS;
        goto fail;
    }
    server_conn_events(s, c, EV_READ);
    return;

fail:
    if (rc == -EPIPE || rc == -ECONNRESET)
        log_debug("fd %d: peer went away", c->fd);
    else
        log_msg(conn_warn_level(&s->pool), "fd %d: dropping connection: %s", c->fd, strerror(-rc));
    server_conn_close(s, c);
}

/* --- live signing hook: connections whose signer answer came in, driven once --- */
static void server_live_drain(struct server *s)
{
    struct conn *c;
    while ((c = livesign_ready(s->pool.live)))
        server_conn_drive(s, c);
}

static void server_live_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct server *s = w->data;
    (void)loop;
    short re = (short)((revents & EV_READ ? POLLIN : 0) | (revents & EV_WRITE ? POLLOUT : 0));
    livesign_io(s->pool.live, re, s->pool.mono);
    server_live_drain(s);
}

/* Before blocking: watch the signer socket (it may be new) for what it needs. */
static void server_live_sync(struct server *s)
{
    short want;
    int fd = livesign_fd(s->pool.live, &want);
    int ev = (want & POLLIN ? EV_READ : 0) | (want & POLLOUT ? EV_WRITE : 0);
    uint32_t gen = livesign_gen(s->pool.live);
    if (fd < 0) {
        ev_io_stop(s->loop, &s->live_io);
        return;
    }
    if (ev_is_active(&s->live_io) && s->live_gen == gen && s->live_io.fd == fd &&
        (s->live_io.events & (EV_READ | EV_WRITE)) == ev)
        return;
    ev_io_stop(s->loop, &s->live_io);
    ev_io_set(&s->live_io, fd, ev);
    ev_io_start(s->loop, &s->live_io);
    s->live_gen = gen;
}

static void server_conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct server_io *sio = (struct server_io *)w;
    struct server *s = sio->srv;
    struct conn *c = sio->c;
    (void)loop;
    if (c->lingering) {
        ssize_t n = recv(c->fd, c->rbuf, CONN_RBUF, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            server_conn_close(s, c);
        return;
    }
    if ((revents & EV_READ) && c->rlen < CONN_RBUF) {
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, CONN_RBUF - c->rlen, 0);
        if (n > 0) {
            c->rlen += (size_t)n;
        } else if (n == 0) {
            c->eof = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            log_debug("fd %d: recv: %s", c->fd, strerror(errno));
            server_conn_close(s, c);
            return;
        }
    }
    server_conn_drive(s, c);
}

static void server_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct server *s = w->data;
    (void)revents;
    for (;;) {
        if (!s->pool.free_list) {
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
            log_msg(conn_warn_level(&s->pool), "accept: %s", strerror(e));
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                /* Retrying at once would spin: the listener stays readable. */
                ev_io_stop(loop, &s->accept_io);
                ev_timer_set(&s->accept_retry, SERVER_ACCEPT_RETRY, 0.);
                ev_timer_start(loop, &s->accept_retry);
            }
            return;
        }
        struct conn *c = conn_open(&s->pool, fd);
        ev_io_init(&s->ios[c->slot].io, server_conn_cb, fd, EV_READ);
        ev_io_start(loop, &s->ios[c->slot].io);
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
 * slowly to ever finish). Monotonic time only.
 */
static void server_sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct server *s = w->data;
    struct conn *c;
    (void)loop;
    (void)revents;
    s->pool.mono = conn_clock(CLOCK_MONOTONIC);
    while ((c = conn_timed_out(&s->pool)))
        server_conn_close(s, c);
    if (s->pool.live) {
        livesign_tick(s->pool.live, s->pool.mono);
        server_live_drain(s);
    }
}

static void server_drain_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct server *s = w->data;
    (void)revents;
    log_warn("shutdown: closing %u connections still busy", s->pool.n_open);
    ev_break(loop, EVBREAK_ALL);
}

/* Stop: stop accepting, let in-flight requests finish, then return. */
static void server_stop(struct server *s)
{
    s->pool.stopping = true;
    ev_io_stop(s->loop, &s->accept_io);
    ev_timer_stop(s->loop, &s->accept_retry);
    close(s->lfd);
    s->lfd = -1;
    for (struct conn *c = s->pool.head, *next; c; c = next) {
        next = c->next;
        if (conn_idle(c) || c->lingering)
            server_conn_close(s, c);
    }
    if (s->pool.n_open == 0) {
        ev_break(s->loop, EVBREAK_ALL);
        return;
    }
    ev_timer_set(&s->drain, (double)s->pool.idle / CONN_NS, 0.);
    ev_timer_start(s->loop, &s->drain);
}

/* main() changed ctl: a stop, a reload, or both. */
static void server_wake_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct server *s = w->data;
    (void)loop;
    (void)revents;
    server_worker_woken(s->w);
    if (atomic_load_explicit(&s->w->ctl->force, memory_order_relaxed)) {
        log_warn("shutdown: closing %u connections now", s->pool.n_open);
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    if (!s->pool.stopping && atomic_load_explicit(&s->w->ctl->stop, memory_order_relaxed))
        server_stop(s);
}

/* One store snapshot per loop iteration: taken lazily after the poll returns... */
static void server_check_cb(struct ev_loop *loop, ev_check *w, int revents)
{
    struct server *s = w->data;
    (void)loop;
    (void)revents;
    /* Read here, once per iteration, not per request: vDSO reads, but still. */
    s->pool.mono = conn_clock(CLOCK_MONOTONIC);
    handler_batch_begin(s->pool.h, conn_clock(CLOCK_REALTIME));
}

/* ...and released before the loop blocks, once every response is copied out. */
static void server_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct server *s = w->data;
    (void)loop;
    (void)revents;
    if (s->pool.live)
        server_live_sync(s);
    handler_batch_end(s->pool.h);
    server_worker_reload(s->w); /* between batches: no response points into the old map */
}

static int server_ev_run(struct server_worker *wk)
{
    struct server *s = calloc(1, sizeof(*s));
    int rc = -ENOMEM;
    if (!s)
        return -ENOMEM;
    s->w = wk;
    s->lfd = -1;
    if (conn_pool_init(&s->pool, wk) < 0 ||
        !(s->ios = calloc(s->pool.max_conns, sizeof(*s->ios)))) {
        log_err("cannot reserve %u connection slots", s->pool.max_conns);
        goto fail;
    }
    for (uint32_t i = 0; i < s->pool.max_conns; i++) {
        s->ios[i].srv = s;
        s->ios[i].c = &s->pool.conns[i];
    }
    if ((rc = server_listen(wk->p->listen)) < 0)
        goto fail;
    s->lfd = rc;
    s->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV | EVFLAG_NOSIGMASK);
    if (!s->loop) {
        rc = -ENOMEM;
        log_err("libev: cannot create a loop");
        goto fail;
    }

    ev_io_init(&s->accept_io, server_accept_cb, s->lfd, EV_READ);
    ev_io_init(&s->wake_io, server_wake_cb, wk->wake_fd, EV_READ);
    ev_init(&s->accept_retry, server_accept_retry_cb);
    ev_init(&s->drain, server_drain_cb);
    double tick = (double)(s->pool.idle < s->pool.send ? s->pool.idle : s->pool.send) / CONN_NS / 4;
    tick = tick < 0.05 ? 0.05 : tick > 1.0 ? 1.0 : tick;
    ev_timer_init(&s->sweep, server_sweep_cb, tick, tick);
    ev_prepare_init(&s->prepare, server_prepare_cb);
    ev_check_init(&s->check, server_check_cb);
    ev_init(&s->live_io, server_live_cb);
    s->live_io.data = s;
    ev_set_priority(&s->check, EV_MAXPRI); /* before any I/O callback of the iteration */
    s->accept_io.data = s->accept_retry.data = s->drain.data = s->sweep.data = s;
    s->wake_io.data = s->prepare.data = s->check.data = s;
    ev_io_start(s->loop, &s->accept_io);
    ev_io_start(s->loop, &s->wake_io);
    ev_timer_start(s->loop, &s->sweep);
    ev_prepare_start(s->loop, &s->prepare);
    ev_check_start(s->loop, &s->check);
    /* The prepare/check pair holds the loop alive on its own; that is fine: we
     * run until told to stop, not until there is nothing left to watch. */

    if (wk->id == 0)
        log_info("listening on %s (backend libev, %u worker(s), %u connection slots each, idle "
                 "timeout %u ms)",
                 wk->p->listen, wk->n_peers, s->pool.max_conns, wk->p->idle_timeout_ms);
    atomic_store(&wk->ready, true);
    server_worker_wait_go(wk);
    /* Stopped before serving: no connection was accepted, nothing to drain (and an
     * ev_break before ev_run would be lost: ev_run clears it on entry). */
    if (!atomic_load(&wk->ctl->stop))
        ev_run(s->loop, 0);
    rc = 0;

fail:
    s->pool.stopping = true; /* closing the slots below must not restart accepting */
    if (s->pool.conns && s->ios) {
        for (uint32_t i = 0; i < s->pool.max_conns; i++) {
            if (s->pool.conns[i].fd >= 0)
                server_conn_close(s, &s->pool.conns[i]);
        }
    }
    handler_batch_end(wk->h);
    if (s->loop)
        ev_io_stop(s->loop, &s->live_io);
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->loop)
        ev_loop_destroy(s->loop);
    conn_pool_free(&s->pool);
    free(s->ios);
    free(s);
    return rc;
}

const struct server_backend server_backend_ev = {"libev", NULL, server_ev_run};
