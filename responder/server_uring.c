/*
 * server_uring — the io_uring backend: one ring per worker, set up with
 * SINGLE_ISSUER | DEFER_TASKRUN (the worker is the only submitter, and the
 * kernel runs completion work only when the worker waits, instead of
 * interrupting it; bench/uring_ceiling measured ~1.75x from that alone), with
 * plain flags as the fallback on kernels that lack them. Accept is multishot;
 * each connection has one multishot recv into the worker's provided buffer
 * ring, whose bytes are copied into the connection's read buffer and the
 * buffer handed back at once. All completions the kernel has are handled as one
 * batch inside one handler batch (one store read txn); then every connection
 * the batch touched is driven once (conn.h answers its complete requests in
 * order), so each connection's responses of a batch leave in one sendmsg.
 *
 * user_data packs op | generation | slot: a slot's generation changes when its
 * connection closes, so a completion still in flight for the old connection is
 * recognised as stale and only its provided buffer is recycled. A multishot op
 * is re-armed only when a completion lacks IORING_CQE_F_MORE. -ENOBUFS from a
 * recv means the buffer ring is empty: backpressure, the recv is re-armed after
 * the batch has handed buffers back. A connection whose read buffer is full
 * (its output is not leaving) keeps at most URING_HELD received buffers and
 * cancels its recv until it drains, so one client cannot hold the worker's
 * buffers. Closing shuts the socket down first, so in-flight ops on it finish.
 * Timeouts: the wait is bounded by a tick, after which connections past the idle
 * or send timeout (CLOCK_MONOTONIC) are closed, as in the libev backend.
 */
#include "server.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <liburing.h>

#include "conn.h"
#include "livesign.h"
#include "log.h"

/* Submission queue entries per ring (the completion queue is twice that). */
#define URING_ENTRIES 2048
/* Provided receive buffers per worker (a power of two) and their size. */
#define URING_BUFS     1024
#define URING_BUF_SIZE 4096
#define URING_BGID     1
#ifndef MADV_POPULATE_WRITE
#define URING_MADV_POPULATE_WRITE 23 /* Linux 5.14; older headers lack it */
#else
#define URING_MADV_POPULATE_WRITE MADV_POPULATE_WRITE
#endif
/* Received buffers a connection may hold while its read buffer is full: what
 * one multishot burst can deliver before its cancellation lands. */
#define URING_HELD 256
/* Pause after accept fails for lack of descriptors or memory, ns. */
#define URING_ACCEPT_RETRY (CONN_NS / 10)
/* Test hook: set in the environment, io_uring counts as unavailable (EPERM),
 * as under Docker's default seccomp profile. */
#define URING_TEST_DISABLE "REVOKD_TEST_NO_IO_URING"

/* Test hook: set in the environment, each worker submits one IORING_OP_NOP (an
 * opcode it never uses) after its ring is restricted and logs the result, which
 * must be EACCES; tests/e2e/test_privileges.sh reads it. */
#define URING_TEST_FORBIDDEN "REVOKD_TEST_URING_FORBIDDEN_OP"

enum uring_op { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_WAKE, OP_CANCEL, OP_LIVE_IN, OP_LIVE_OUT };

struct uring_held {
    uint16_t bid;
    uint16_t off, len;
};

struct uring_slot {
    uint32_t gen;
    bool recv_armed;  /* a multishot recv is in flight (until a CQE lacks F_MORE) */
    bool recv_cancel; /* and its cancellation is on the way */
    bool paused;      /* fell behind: one buffer per recv until it has caught up */
    bool send_armed;  /* a sendmsg is in flight */
    bool dirty;       /* on the batch's list of connections to drive */
    uint16_t n_held, held_head;
    struct uring_held held[URING_HELD];
    struct uring_slot *dnext;
    struct msghdr mh; /* the in-flight sendmsg's */
    struct iovec iov[2];
};

struct uring_srv {
    struct io_uring ring;
    bool ring_ok;
    struct server_worker *w;
    struct conn_pool pool;
    struct uring_slot *slots;
    struct io_uring_buf_ring *br;
    size_t br_len;
    uint8_t *bufs;
    int lfd;
    bool accept_armed, accept_cancel, wake_armed;
    int64_t accept_retry_at;
    struct uring_slot *dirty;
    int64_t tick, last_sweep, drain_until;
    /* One-shot polls on the revokd-signer socket, each tagged with its generation. */
    bool live_in_armed, live_out_armed;
    uint32_t live_in_gen, live_out_gen;
};

static uint64_t uring_ud(enum uring_op op, uint32_t gen, uint32_t slot)
{
    return (uint64_t)op << 56 | (uint64_t)(gen & 0xffffff) << 32 | slot;
}

static struct io_uring_sqe *uring_sqe(struct uring_srv *s)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    if (!sqe) {
        io_uring_submit(&s->ring);
        sqe = io_uring_get_sqe(&s->ring);
    }
    return sqe; /* never NULL after a submit emptied the queue */
}

/*
 * Sets up the ring: the fast flags, else plain ones. 0 or a negative errno.
 * extra: more setup flags (IORING_SETUP_R_DISABLED for a ring to be restricted).
 */
static int uring_setup(struct io_uring *ring, unsigned entries, unsigned extra, const char **flags)
{
    if (getenv(URING_TEST_DISABLE))
        return -EPERM;
    struct io_uring_params pa = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                                          IORING_SETUP_CLAMP | extra};
    int rc = io_uring_queue_init_params(entries, ring, &pa);
    if (rc == 0) {
        *flags = "SINGLE_ISSUER|DEFER_TASKRUN";
        return 0;
    }
    if (rc != -EINVAL) /* EINVAL: flags unknown to an older kernel; anything else is final */
        return rc;
    struct io_uring_params pb = {.flags = IORING_SETUP_CLAMP | extra};
    rc = io_uring_queue_init_params(entries, ring, &pb);
    *flags = "plain setup flags (kernel without SINGLE_ISSUER|DEFER_TASKRUN)";
    return rc;
}

/* Registers a provided buffer ring of n entries of size bytes each from bufs. */
static struct io_uring_buf_ring *uring_buf_ring(struct io_uring *ring, unsigned n, size_t *len,
                                                int *err)
{
    *len = n * sizeof(struct io_uring_buf);
    void *m = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (m == MAP_FAILED) {
        *err = -errno;
        return NULL;
    }
    struct io_uring_buf_reg reg = {
        .ring_addr = (unsigned long)m, .ring_entries = n, .bgid = URING_BGID};
    int rc = io_uring_register_buf_ring(ring, &reg, 0);
    if (rc < 0) {
        munmap(m, *len);
        *err = rc;
        return NULL;
    }
    io_uring_buf_ring_init(m);
    return m;
}

static int uring_probe(char *why, size_t why_len)
{
    struct io_uring ring;
    const char *flags;
    int rc = uring_setup(&ring, 8, 0, &flags);
    if (rc < 0) {
        const char *hint = getenv(URING_TEST_DISABLE) ? " (test hook " URING_TEST_DISABLE ")"
                           : rc == -EPERM || rc == -EACCES
                               ? " (a seccomp profile such as Docker's default, or "
                                 "kernel.io_uring_disabled)"
                           : rc == -ENOSYS ? " (kernel without io_uring)"
                                           : "";
        snprintf(why, why_len, "io_uring_queue_init: %s%s", strerror(-rc), hint);
        return rc;
    }
    size_t len;
    struct io_uring_buf_ring *br = uring_buf_ring(&ring, 1, &len, &rc);
    if (!br) {
        snprintf(why, why_len, "provided buffer rings: %s (kernel before 5.19)", strerror(-rc));
        io_uring_queue_exit(&ring);
        return rc;
    }
    io_uring_unregister_buf_ring(&ring, URING_BGID);
    munmap(br, len);
    io_uring_queue_exit(&ring);
    /* Multishot recv (6.0) has no feature bit to probe: a 5.19 kernel has buffer
     * rings and multishot accept but would fail every recv. */
    struct utsname u;
    unsigned major = 0, minor = 0;
    if (uname(&u) == 0 && sscanf(u.release, "%u.%u", &major, &minor) == 2 && major < 6) {
        snprintf(why, why_len, "kernel %s lacks multishot recv (6.0)", u.release);
        return -ENOSYS;
    }
    return 0;
}

/*
 * Least privilege (issue 12): a worker's ring, created disabled, may from now on
 * carry only the operations this file submits (accept, recv with a provided
 * buffer, send, sendmsg, poll for the wake-up and live-signing descriptors,
 * cancel; TIMEOUT for liburing's wait on kernels without EXT_ARG) and no further
 * io_uring_register() calls at all; then it is enabled. Whatever code execution
 * a bug might give an attacker, this ring cannot open, read or write files.
 */
static int uring_restrict(struct io_uring *ring)
{
    static const uint8_t ops[] = {IORING_OP_ACCEPT,  IORING_OP_RECV,     IORING_OP_SEND,
                                  IORING_OP_SENDMSG, IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL,
                                  IORING_OP_TIMEOUT};
    struct io_uring_restriction r[sizeof(ops) + 1];
    memset(r, 0, sizeof(r));
    for (size_t i = 0; i < sizeof(ops); i++) {
        r[i].opcode = IORING_RESTRICTION_SQE_OP;
        r[i].sqe_op = ops[i];
    }
    r[sizeof(ops)].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
    r[sizeof(ops)].sqe_flags = IOSQE_BUFFER_SELECT;
    /* Debian 12's liburing 2.3 declares io_uring_register_restrictions() and
     * io_uring_enable_rings() but its shared library does not export them; its
     * io_uring_register() (the raw call, -errno on failure) does the same. */
    int rc = io_uring_register(ring->ring_fd, IORING_REGISTER_RESTRICTIONS, r, sizeof(ops) + 1);
    if (rc < 0)
        return rc;
    return io_uring_register(ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}

/* The URING_TEST_FORBIDDEN hook: the result of one IORING_OP_NOP (0 or -errno). */
static int uring_try_nop(struct io_uring *ring)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    struct io_uring_cqe *cqe;
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, 0);
    int rc = io_uring_submit_and_wait(ring, 1);
    if (rc < 0)
        return rc;
    if ((rc = io_uring_peek_cqe(ring, &cqe)) < 0)
        return rc;
    rc = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    return rc;
}

static void uring_buf_recycle(struct uring_srv *s, uint16_t bid)
{
    io_uring_buf_ring_add(s->br, s->bufs + (size_t)bid * URING_BUF_SIZE, URING_BUF_SIZE, bid,
                          io_uring_buf_ring_mask(URING_BUFS), 0);
    io_uring_buf_ring_advance(s->br, 1);
}

static void uring_arm_accept(struct uring_srv *s)
{
    struct io_uring_sqe *sqe = uring_sqe(s);
    io_uring_prep_multishot_accept(sqe, s->lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, uring_ud(OP_ACCEPT, 0, 0));
    s->accept_armed = true;
    s->accept_cancel = false;
}

static void uring_arm_wake(struct uring_srv *s)
{
    struct io_uring_sqe *sqe = uring_sqe(s);
    io_uring_prep_poll_multishot(sqe, s->w->wake_fd, POLLIN);
    io_uring_sqe_set_data64(sqe, uring_ud(OP_WAKE, 0, 0));
    s->wake_armed = true;
}

static void uring_cancel(struct uring_srv *s, uint64_t ud)
{
    struct io_uring_sqe *sqe = uring_sqe(s);
    io_uring_prep_cancel64(sqe, ud, 0);
    io_uring_sqe_set_data64(sqe, uring_ud(OP_CANCEL, 0, 0));
}

/* Multishot normally; a single recv (one buffer) while the connection catches up. */
static void uring_arm_recv(struct uring_srv *s, struct conn *c)
{
    struct uring_slot *u = &s->slots[c->slot];
    struct io_uring_sqe *sqe = uring_sqe(s);
    if (u->paused)
        io_uring_prep_recv(sqe, c->fd, NULL, URING_BUF_SIZE, 0);
    else
        io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = URING_BGID;
    io_uring_sqe_set_data64(sqe, uring_ud(OP_RECV, u->gen, c->slot));
    u->recv_armed = true;
    u->recv_cancel = false;
}

static void uring_arm_send(struct uring_srv *s, struct conn *c)
{
    struct uring_slot *u = &s->slots[c->slot];
    u->mh = (struct msghdr){.msg_iov = u->iov, .msg_iovlen = conn_out_iov(c, u->iov)};
    struct io_uring_sqe *sqe = uring_sqe(s);
    if (u->mh.msg_iovlen == 1) /* the usual case: a plain send skips copying the msghdr */
        io_uring_prep_send(sqe, c->fd, u->iov[0].iov_base, u->iov[0].iov_len, MSG_NOSIGNAL);
    else
        io_uring_prep_sendmsg(sqe, c->fd, &u->mh, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, uring_ud(OP_SEND, u->gen, c->slot));
    u->send_armed = true;
}

static void uring_mark(struct uring_srv *s, struct conn *c)
{
    struct uring_slot *u = &s->slots[c->slot];
    if (u->dirty)
        return;
    u->dirty = true;
    u->dnext = s->dirty;
    s->dirty = u;
}

static void uring_drop_held(struct uring_srv *s, struct uring_slot *u)
{
    while (u->n_held) {
        uring_buf_recycle(s, u->held[u->held_head].bid);
        u->held_head = (uint16_t)((u->held_head + 1) % URING_HELD);
        u->n_held--;
    }
    u->held_head = 0;
}

/*
 * Shuts the socket down (so a recv or send still in flight on it completes
 * now) and closes it; the new generation makes those completions stale.
 */
static void uring_close(struct uring_srv *s, struct conn *c)
{
    struct uring_slot *u = &s->slots[c->slot];
    shutdown(c->fd, SHUT_RDWR);
    close(c->fd);
    uring_drop_held(s, u);
    u->gen++;
    u->recv_armed = u->recv_cancel = u->send_armed = u->paused = false;
    /* u->dirty stays: the list walk skips slots whose connection is gone */
    conn_release(&s->pool, c);
}

static void uring_conn_fail(struct uring_srv *s, struct conn *c, int rc)
{
    if (rc == -EPIPE || rc == -ECONNRESET)
        log_debug("fd %d: peer went away", c->fd);
    else
        log_msg(conn_warn_level(&s->pool), "fd %d: dropping connection: %s", c->fd, strerror(-rc));
    uring_close(s, c);
}

/* Moves held buffers into the read buffer while they fit. */
static void uring_feed_held(struct uring_srv *s, struct conn *c)
{
    struct uring_slot *u = &s->slots[c->slot];
    while (u->n_held && c->rlen < CONN_RBUF) {
        struct uring_held *hb = &u->held[u->held_head];
        size_t n = hb->len - hb->off, room = CONN_RBUF - c->rlen;
        if (n > room)
            n = room;
        memcpy(c->rbuf + c->rlen, s->bufs + (size_t)hb->bid * URING_BUF_SIZE + hb->off, n);
        c->rlen += n;
        hb->off = (uint16_t)(hb->off + n);
        if (hb->off == hb->len) {
            uring_buf_recycle(s, hb->bid);
            u->held_head = (uint16_t)((u->held_head + 1) % URING_HELD);
            u->n_held--;
        }
    }
}

/*
 * The connection cannot keep up with what its client sends (its output backs
 * up): cancel the multishot recv, so bytes wait in the socket and TCP pushes
 * back, as libev does by not reading.
 */
static void uring_pause(struct uring_srv *s, struct conn *c)
{
    struct uring_slot *u = &s->slots[c->slot];
    u->paused = true;
    if (u->recv_armed && !u->recv_cancel) {
        uring_cancel(s, uring_ud(OP_RECV, u->gen, c->slot));
        u->recv_cancel = true; /* its last completion lacks F_MORE */
    }
}

/*
 * Reads on once held bytes are in: multishot when caught up; else one buffer,
 * when it fits or when nothing else can make progress (a request still
 * incomplete in an almost full read buffer: the excess is held and fed in).
 */
static void uring_rearm_recv(struct uring_srv *s, struct conn *c)
{
    struct uring_slot *u = &s->slots[c->slot];
    if (u->recv_armed || u->n_held || c->eof)
        return;
    if (c->rlen == 0 && !conn_out_pending(c))
        u->paused = false;
    if (!u->paused || CONN_RBUF - c->rlen >= URING_BUF_SIZE || !conn_out_pending(c))
        uring_arm_recv(s, c);
}

/* Answers what can be answered and queues one send; the libev drive, asynchronously. */
static void uring_drive(struct uring_srv *s, struct conn *c)
{
    struct uring_slot *u = &s->slots[c->slot];
    int rc;
    if (c->lingering) {
        if (!u->recv_armed)
            uring_arm_recv(s, c); /* to see the EOF */
        return;
    }
    for (;;) {
        if ((rc = conn_process(&s->pool, c)) < 0) {
            uring_conn_fail(s, c, rc);
            return;
        }
        size_t before = c->rlen;
        uring_feed_held(s, c);
        if (c->rlen == before || c->close_after)
            break;
    }
    if (c->deferred)
        uring_pause(s, c); /* output backs up: stop the multishot flow early */
    if (conn_out_pending(c)) {
        if (!u->send_armed)
            uring_arm_send(s, c);
        uring_rearm_recv(s, c);
        return; /* the rest after the send completes */
    }
    if (c->live_slot >= 0) { /* --- live signing hook: its answer drives us again --- */
        if (!c->eof)
            uring_rearm_recv(s, c);
        return;
    }
    if (c->close_after || (c->eof && !u->n_held)) {
        /* See server_ev.c: shut the write side and read until EOF, not close. */
        if (c->eof || shutdown(c->fd, SHUT_WR) < 0) {
            uring_close(s, c);
            return;
        }
        c->lingering = true;
        c->rlen = 0;
        uring_drop_held(s, u);
    } else if (s->pool.stopping && conn_idle(c) && !u->n_held) {
        uring_close(s, c);
        return;
    } else if (c->rlen == CONN_RBUF && !c->deferred) {
        uring_conn_fail(s, c, -ENOBUFS); /* cannot happen: a full buffer holds a request */
        return;
    }
    uring_rearm_recv(s, c);
}

static void uring_on_recv(struct uring_srv *s, struct conn *c, struct io_uring_cqe *cqe)
{
    struct uring_slot *u = &s->slots[c->slot];
    int res = cqe->res;
    bool more = cqe->flags & IORING_CQE_F_MORE;
    if (!more)
        u->recv_armed = u->recv_cancel = false;
    if (res == -ENOBUFS || res == -ECANCELED) {
        uring_mark(s, c); /* uring_drive re-arms it once there is room */
        return;
    }
    if (res < 0) {
        log_debug("fd %d: recv: %s", c->fd, strerror(-res));
        uring_close(s, c);
        return;
    }
    if (res == 0) {
        if (c->lingering) {
            uring_close(s, c);
            return;
        }
        c->eof = true;
        uring_mark(s, c);
        return;
    }
    uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    const uint8_t *data = s->bufs + (size_t)bid * URING_BUF_SIZE;
    size_t n = (size_t)res;
    if (c->lingering) {
        uring_buf_recycle(s, bid);
        if (!u->recv_armed)
            uring_arm_recv(s, c);
        return;
    }
    if (u->n_held == 0 && CONN_RBUF - c->rlen >= n) {
        memcpy(c->rbuf + c->rlen, data, n);
        c->rlen += n;
        uring_buf_recycle(s, bid);
    } else if (u->n_held < URING_HELD) {
        /* The read buffer is full: keep the bytes, stop reading until it drains. */
        u->held[(u->held_head + u->n_held) % URING_HELD] = (struct uring_held){bid, 0, (uint16_t)n};
        u->n_held++;
        uring_pause(s, c);
    } else {
        uring_buf_recycle(s, bid);
        uring_conn_fail(s, c, -ENOBUFS);
        return;
    }
    uring_mark(s, c);
}

static void uring_on_send(struct uring_srv *s, struct conn *c, int res)
{
    struct uring_slot *u = &s->slots[c->slot];
    u->send_armed = false;
    if (res < 0) {
        uring_conn_fail(s, c, res);
        return;
    }
    conn_sent(&s->pool, c, (size_t)res);
    uring_mark(s, c); /* more to send, deferred requests, or the end */
}

static void uring_on_accept(struct uring_srv *s, struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE))
        s->accept_armed = s->accept_cancel = false;
    int fd = cqe->res;
    if (fd < 0) {
        if (fd == -ECANCELED || fd == -EAGAIN || fd == -EINTR || fd == -ECONNABORTED)
            return;
        log_msg(conn_warn_level(&s->pool), "accept: %s", strerror(-fd));
        if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM)
            s->accept_retry_at = s->pool.mono + URING_ACCEPT_RETRY;
        return;
    }
    if (s->pool.stopping) {
        close(fd);
        return;
    }
    struct conn *c = conn_open(&s->pool, fd);
    if (!c) {
        /* Accepted before the cancel below took effect: nowhere to put it. */
        log_msg(conn_warn_level(&s->pool), "all %u connection slots busy: refusing one",
                s->pool.max_conns);
        close(fd);
        if (s->accept_armed && !s->accept_cancel) {
            uring_cancel(s, uring_ud(OP_ACCEPT, 0, 0));
            s->accept_cancel = true;
        }
        return;
    }
    uring_arm_recv(s, c);
    if (!s->pool.free_list && s->accept_armed && !s->accept_cancel) {
        /* The last slot: stop accepting, so further clients wait in the kernel's
         * queue (as with libev) instead of being accepted and closed. */
        uring_cancel(s, uring_ud(OP_ACCEPT, 0, 0));
        s->accept_cancel = true;
    }
}

/* Stop: stop accepting, close idle connections, let the others finish. */
static void uring_stop(struct uring_srv *s)
{
    s->pool.stopping = true;
    if (s->accept_armed && !s->accept_cancel)
        uring_cancel(s, uring_ud(OP_ACCEPT, 0, 0));
    s->accept_cancel = true;
    if (s->lfd >= 0) {
        shutdown(s->lfd, SHUT_RDWR); /* ends the multishot accept at once */
        close(s->lfd);
        s->lfd = -1;
    }
    for (struct conn *c = s->pool.head, *next; c; c = next) {
        next = c->next;
        if ((conn_idle(c) && !s->slots[c->slot].n_held) || c->lingering)
            uring_close(s, c);
    }
    s->drain_until = s->pool.mono + s->pool.idle;
}

static void uring_sweep(struct uring_srv *s)
{
    struct conn *c;
    s->last_sweep = s->pool.mono;
    while ((c = conn_timed_out(&s->pool)))
        uring_close(s, c);
}

/* --- live signing hook: poll the signer socket (it may be new) for what it needs --- */
static void uring_live_arm(struct uring_srv *s)
{
    short want;
    int fd = livesign_fd(s->pool.live, &want);
    uint32_t gen = livesign_gen(s->pool.live) & 0xffffff;
    /* A poll on a socket since replaced would hold it open: cancel it. */
    if (s->live_in_armed && s->live_in_gen != gen)
        uring_cancel(s, uring_ud(OP_LIVE_IN, s->live_in_gen, 0));
    if (s->live_out_armed && s->live_out_gen != gen)
        uring_cancel(s, uring_ud(OP_LIVE_OUT, s->live_out_gen, 0));
    if (fd < 0)
        return;
    if (!s->live_in_armed || s->live_in_gen != gen) {
        struct io_uring_sqe *sqe = uring_sqe(s);
        io_uring_prep_poll_add(sqe, fd, POLLIN);
        io_uring_sqe_set_data64(sqe, uring_ud(OP_LIVE_IN, gen, 0));
        s->live_in_armed = true;
        s->live_in_gen = gen;
    }
    if ((want & POLLOUT) && (!s->live_out_armed || s->live_out_gen != gen)) {
        struct io_uring_sqe *sqe = uring_sqe(s);
        io_uring_prep_poll_add(sqe, fd, POLLOUT);
        io_uring_sqe_set_data64(sqe, uring_ud(OP_LIVE_OUT, gen, 0));
        s->live_out_armed = true;
        s->live_out_gen = gen;
    }
}

static void uring_on_live(struct uring_srv *s, enum uring_op op, uint32_t gen, int res)
{
    bool cur = gen == (livesign_gen(s->pool.live) & 0xffffff);
    if (op == OP_LIVE_IN && s->live_in_gen == gen)
        s->live_in_armed = false;
    if (op == OP_LIVE_OUT && s->live_out_gen == gen)
        s->live_out_armed = false;
    if (!cur || res == -ECANCELED)
        return;
    short re = res < 0 ? POLLERR : (short)res;
    livesign_io(s->pool.live, re, s->pool.mono);
}

/* One completion batch: every CQE the kernel has, then every touched connection once. */
static void uring_batch(struct uring_srv *s)
{
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&s->ring, head, cqe)
    {
        seen++;
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        enum uring_op op = (enum uring_op)(ud >> 56);
        uint32_t gen = (uint32_t)(ud >> 32) & 0xffffff, slot = (uint32_t)ud;
        if (op == OP_ACCEPT) {
            uring_on_accept(s, cqe);
            continue;
        }
        if (op == OP_WAKE) {
            if (!(cqe->flags & IORING_CQE_F_MORE))
                s->wake_armed = false;
            server_worker_woken(s->w);
            continue;
        }
        if ((op == OP_LIVE_IN || op == OP_LIVE_OUT) && s->pool.live) {
            uring_on_live(s, op, gen, cqe->res);
            continue;
        }
        if (op != OP_RECV && op != OP_SEND)
            continue;
        struct conn *c = slot < s->pool.max_conns ? &s->pool.conns[slot] : NULL;
        if (!c || c->fd < 0 || (s->slots[slot].gen & 0xffffff) != gen) {
            /* Stale: its connection is gone; only a provided buffer needs handing back. */
            if (cqe->flags & IORING_CQE_F_BUFFER)
                uring_buf_recycle(s, (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
            continue;
        }
        if (op == OP_RECV)
            uring_on_recv(s, c, cqe);
        else
            uring_on_send(s, c, cqe->res);
    }
    io_uring_cq_advance(&s->ring, seen);
    if (s->pool.live) { /* answers in, deadlines passed: drive those connections */
        struct conn *c;
        livesign_tick(s->pool.live, s->pool.mono);
        while ((c = livesign_ready(s->pool.live)))
            uring_mark(s, c);
    }

    while (s->dirty) {
        struct uring_slot *u = s->dirty;
        s->dirty = u->dnext;
        u->dirty = false;
        struct conn *c = &s->pool.conns[u - s->slots];
        if (c->fd >= 0)
            uring_drive(s, c);
    }
}

static int uring_run(struct server_worker *wk)
{
    struct uring_srv *s = calloc(1, sizeof(*s));
    const char *flags = "";
    int rc = -ENOMEM;
    if (!s)
        return -ENOMEM;
    s->w = wk;
    s->lfd = -1;
    if (conn_pool_init(&s->pool, wk) < 0 ||
        !(s->slots = calloc(s->pool.max_conns, sizeof(*s->slots))) ||
        (s->bufs = mmap(NULL, (size_t)URING_BUFS * URING_BUF_SIZE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)) == MAP_FAILED) {
        s->bufs = NULL;
        log_err("cannot reserve %u connection slots", s->pool.max_conns);
        goto fail;
    }
    /* Every recv lands in the next buffer of the ring, so the kernel and the copy
     * out of it walk all URING_BUFS * URING_BUF_SIZE bytes in turn: on 4 KiB pages
     * that is a TLB miss per receive. Transparent huge pages if the kernel has
     * them (advice: failure changes nothing), faulted in now, so a huge page's
     * allocation (compaction, with THP defrag = madvise) never stalls a receive.
     * The connection slab is left alone: it is large and touched slot by slot in
     * the hot path, and measured no gain worth that risk. */
    madvise(s->bufs, (size_t)URING_BUFS * URING_BUF_SIZE, MADV_HUGEPAGE);
    madvise(s->bufs, (size_t)URING_BUFS * URING_BUF_SIZE, URING_MADV_POPULATE_WRITE);
    if ((rc = uring_setup(&s->ring, URING_ENTRIES, IORING_SETUP_R_DISABLED, &flags)) < 0) {
        log_err("worker %u: [responder] backend = io_uring: io_uring_queue_init: %s", wk->id,
                strerror(-rc));
        goto fail;
    }
    s->ring_ok = true;
    if (!(s->br = uring_buf_ring(&s->ring, URING_BUFS, &s->br_len, &rc))) {
        log_err("worker %u: [responder] backend = io_uring: provided buffer ring: %s", wk->id,
                strerror(-rc));
        goto fail;
    }
    for (uint16_t i = 0; i < URING_BUFS; i++)
        uring_buf_recycle(s, i);
    if ((rc = uring_restrict(&s->ring)) < 0) {
        log_err("worker %u: [responder] backend = io_uring: restricting the ring: %s", wk->id,
                strerror(-rc));
        goto fail;
    }
    if (getenv(URING_TEST_FORBIDDEN)) {
        rc = uring_try_nop(&s->ring);
        log_info("worker %u: test hook: IORING_OP_NOP on the restricted ring: %s", wk->id,
                 rc < 0 ? strerror(-rc) : "allowed");
    }
    if ((rc = server_listen(wk->p->listen)) < 0)
        goto fail;
    s->lfd = rc;
    s->tick = (s->pool.idle < s->pool.send ? s->pool.idle : s->pool.send) / 4;
    s->tick = s->tick < CONN_NS / 20 ? CONN_NS / 20 : s->tick > CONN_NS ? CONN_NS : s->tick;
    s->last_sweep = s->pool.mono;
    uring_arm_accept(s);
    uring_arm_wake(s);
    atomic_store(&wk->ready, true);
    server_worker_wait_go(wk);
    if (wk->id == 0)
        log_info("listening on %s (backend io_uring, %s, opcodes restricted, %u worker(s), %u "
                 "connection slots "
                 "each, idle timeout %u ms)",
                 wk->p->listen, flags, wk->n_peers, s->pool.max_conns, wk->p->idle_timeout_ms);

    for (;;) {
        if (!s->pool.stopping && atomic_load_explicit(&wk->ctl->stop, memory_order_relaxed))
            uring_stop(s);
        if (s->pool.stopping) {
            if (s->pool.n_open == 0)
                break;
            if (atomic_load_explicit(&wk->ctl->force, memory_order_relaxed)) {
                log_warn("shutdown: closing %u connections now", s->pool.n_open);
                break;
            }
            if (s->pool.mono >= s->drain_until) {
                log_warn("shutdown: closing %u connections still busy", s->pool.n_open);
                break;
            }
        }
        struct __kernel_timespec ts = {.tv_sec = s->tick / CONN_NS, .tv_nsec = s->tick % CONN_NS};
        struct io_uring_cqe *cqe;
        rc = io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            log_err("worker %u: io_uring_enter: %s", wk->id, strerror(-rc));
            goto fail;
        }
        s->pool.mono = conn_clock(CLOCK_MONOTONIC);
        handler_batch_begin(wk->h, conn_clock(CLOCK_REALTIME));
        uring_batch(s);
        if (s->pool.live)
            uring_live_arm(s);
        handler_batch_end(wk->h); /* every response is copied out: no map pointers left */
        server_worker_reload(wk);
        if (!s->accept_armed && !s->pool.stopping && s->lfd >= 0 && s->pool.free_list &&
            s->pool.mono >= s->accept_retry_at)
            uring_arm_accept(s);
        if (!s->wake_armed)
            uring_arm_wake(s);
        if (s->pool.mono - s->last_sweep >= s->tick)
            uring_sweep(s);
    }
    rc = 0;

fail:
    s->pool.stopping = true;
    if (s->pool.conns && s->slots) {
        for (uint32_t i = 0; i < s->pool.max_conns; i++) {
            if (s->pool.conns[i].fd >= 0)
                uring_close(s, &s->pool.conns[i]);
        }
    }
    handler_batch_end(wk->h);
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->ring_ok)
        io_uring_queue_exit(&s->ring); /* cancels what is still in flight */
    if (s->br)
        munmap(s->br, s->br_len);
    if (s->bufs)
        munmap(s->bufs, (size_t)URING_BUFS * URING_BUF_SIZE);
    conn_pool_free(&s->pool);
    free(s->slots);
    free(s);
    return rc;
}

const struct server_backend server_backend_uring = {"io_uring", uring_probe, uring_run};
