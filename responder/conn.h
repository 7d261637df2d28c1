/*
 * conn — the connection state both network backends share: preallocated slots
 * with fixed read and write buffers, request processing (pipelining in order,
 * 100-continue, refusals that close), the shared reference-counted copies of
 * large bodies (CRLs) sent in bounded chunks, and the activity and output lists
 * the idle and send timeouts walk. A backend only moves bytes: it feeds received
 * bytes into rbuf, calls conn_process(), sends what conn_out_iov() names, reports
 * progress with conn_sent(), and closes what conn_timed_out() returns. Nothing
 * here does I/O except the socket options set on accept and log lines; nothing
 * allocates except a large body's shared copy, once per distinct body.
 */
#ifndef REVOKD_CONN_H
#define REVOKD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#include "handler.h"
#include "log.h"
#include "ocsp.h"
#include "server.h"

/* A whole request (largest head and largest body) always fits, so a full read
 * buffer always holds a complete request or a malformed one. */
#define CONN_RBUF (HTTP_HEAD_MAX + OCSP_REQ_MAX)
/* Output buffer per connection: a pipelined burst of OCSP responses. */
#define CONN_WBUF 16384
/* Stop taking pipelined requests once this much output waits: flush first. */
#define CONN_WBUF_HIGH (CONN_WBUF / 2)
/* Most bytes of a shared body handed to one send. */
#define CONN_CHUNK (64 * 1024)

#define CONN_NS 1000000000LL

struct conn_blob; /* a large body's shared copy (conn.c) */
struct livesign;  /* live signing client (livesign.h) */

struct conn {
    int fd;        /* -1 when the slot is free */
    uint32_t slot; /* index in conn_pool.conns, for the backend's own per-slot state */
    uint8_t *rbuf; /* CONN_RBUF bytes */
    size_t rlen;
    uint8_t *wbuf; /* CONN_WBUF bytes; [woff, wlen) not yet sent */
    size_t wlen, woff;
    struct conn_blob *blob; /* body sent after wbuf, for a response that does not fit */
    size_t blob_off;
    int64_t last;               /* last progress, monotonic ns, for the idle timeout */
    int64_t out_since;          /* when pending output was queued, for the send timeout */
    bool on_out;                /* on the output list (output pending) */
    bool eof;                   /* the peer shut its sending side */
    bool close_after;           /* close once the output is sent */
    bool deferred;              /* requests left in rbuf until the output drains */
    bool continued;             /* 100 Continue sent for the request at rbuf[0] */
    bool lingering;             /* output done, write side shut: draining input until EOF */
    int32_t live_slot;          /* livesign slot of the request at rbuf[0] waiting, or -1 */
    struct conn *oprev, *onext; /* output list */
    struct conn *prev, *next;   /* activity list when open, free list when not */
};

struct conn_pool {
    struct handler *h;
    struct server_worker *w; /* for /metrics totals over the workers; may be NULL */
    struct conn *conns;
    uint32_t max_conns, n_open;
    struct conn *free_list;
    struct conn *head, *tail;   /* open conns, least recently active first */
    struct conn *ohead, *otail; /* conns with output pending, oldest first */
    struct conn_blob *blobs;    /* keyed shared bodies in use */
    uint8_t *slab;
    size_t slab_len;
    int64_t idle, send; /* timeouts, ns */
    int64_t mono;       /* CLOCK_MONOTONIC ns, read once per loop iteration by the backend */
    int64_t last_warn;
    uint32_t sndbuf;       /* SO_SNDBUF for accepted sockets, 0 to leave it */
    struct livesign *live; /* this worker's signer client, or NULL: no live signing */
    bool stopping;
    uint8_t hdr[HANDLER_HDR_MAX]; /* handler writes headers here; copied to the conn */
};

int64_t conn_clock(clockid_t id);

/* Reserves w->p->max_conns slots for worker w (buffers in one MAP_NORESERVE mapping). 0 or -ENOMEM.
 */
int conn_pool_init(struct conn_pool *p, struct server_worker *w);
/* Frees the slots; every connection must have been released. */
void conn_pool_free(struct conn_pool *p);

/* Warn at most once a second; the rest goes to debug so a flood cannot fill the log. */
enum log_level conn_warn_level(struct conn_pool *p);

/* Takes a free slot for the accepted socket fd (TCP_NODELAY, SO_SNDBUF set, counted
 * in the handler's gauges), or NULL if none is free (fd untouched). */
struct conn *conn_open(struct conn_pool *p, int fd);
/* Gives the slot back (the backend closes the fd itself). */
void conn_release(struct conn_pool *p, struct conn *c);

/* Counts progress for the idle timeout. */
void conn_touch(struct conn_pool *p, struct conn *c);

/*
 * Answers every complete request at the front of rbuf, in order, while output
 * room lasts (c->deferred says requests were left for after a flush), and
 * until one waits for a live signature (c->live_slot >= 0: the request stays at
 * rbuf[0]; livesign_ready() hands the connection back to drive again). Call it
 * inside a handler batch. Returns 0 or a negative errno, after which the
 * connection is dropped.
 */
int conn_process(struct conn_pool *p, struct conn *c);

static inline bool conn_out_pending(const struct conn *c)
{
    return c->woff < c->wlen || c->blob;
}

/* Pending output as at most 2 iovecs (wbuf, then a chunk of the shared body). */
size_t conn_out_iov(const struct conn *c, struct iovec iov[2]);

/* n bytes of what conn_out_iov() named were sent. */
void conn_sent(struct conn_pool *p, struct conn *c, size_t n);

/* Nothing read and not yet answered, nothing to send. */
static inline bool conn_idle(const struct conn *c)
{
    return c->rlen == 0 && !conn_out_pending(c);
}

/*
 * The first open connection past the idle timeout, or with output waiting past
 * the send timeout (*send_timeout says which), or NULL. Uses p->mono; the
 * backends go through conn_timed_out().
 */
struct conn *conn_expired(struct conn_pool *p, bool *send_timeout);

/*
 * conn_expired() as both backends' sweeps use it: the connection is also logged
 * (a send timeout as a rate-limited warning, an idle one at debug) and counted
 * in the handler stats, so that both say and count a timeout alike. The backend
 * closes it, then asks again.
 */
struct conn *conn_timed_out(struct conn_pool *p);

#endif
