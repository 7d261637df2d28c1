/*
 * livesign — the responder's side of live signing (docs/signer.md): hands the
 * requests no pre-signed response answers to revokd-signer over its Unix socket
 * without ever blocking the event loop, and gives each waiting connection its
 * answer back. One per worker, with its own socket. It protects the signer and
 * the responder alike: a bounded queue, a token-bucket rate limit, a deadline
 * per request, and a bounded cache of `unknown`-type answers keyed by CertID;
 * past any of them, or with the signer down, the answer is tryLater at once,
 * never a hang, and the pre-signed path is not touched. Outcomes are counted in
 * the handler's live[] counters for /metrics.
 *
 * A backend polls livesign_fd() for the events it asks, calls livesign_io()
 * when they come and livesign_tick() at least every few hundred ms, then drives
 * every connection livesign_ready() returns (their answers are in). conn.c does
 * the rest: livesign_submit() when the handler says HANDLER_LIVE,
 * livesign_result()/livesign_finish() when the connection is driven again.
 *
 * Ownership: livesign_init() allocates; livesign_free() closes and frees.
 */
#ifndef REVOKD_LIVESIGN_H
#define REVOKD_LIVESIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handler.h"
#include "signproto.h"

struct conn;
struct livesign;

struct livesign_params {
    const char *path;   /* [signer] socket */
    uint32_t queue;     /* requests waiting, at most */
    uint32_t rate;      /* signatures per second for this worker */
    int64_t timeout_ns; /* per request */
    uint32_t cache;     /* cached answers, 0: none */
    int64_t cache_ttl_ns;
};

/* An answer: status (enum ocsp_resp_status) and, when 0, the OCSPResponse DER. */
struct livesign_result {
    uint8_t status;
    const uint8_t *der;
    size_t der_len;
};

int livesign_init(struct livesign **out, const struct livesign_params *p, struct handler *h);
void livesign_free(struct livesign *ls);

/*
 * Takes req for connection c (which must have no request waiting). Returns 0
 * when queued (c->live_slot set: the answer comes through livesign_ready()), or
 * 1 when answered at once, in *res (a cached answer, or tryLater because the
 * queue is full, the rate is spent or the signer is down); res->der is valid
 * until the next livesign call. req->id is overwritten (the wire id).
 */
int livesign_submit(struct livesign *ls, struct conn *c, struct signproto_req *req, int64_t mono,
                    struct livesign_result *res);

/* 1 with *res when c's answer is in (valid until livesign_finish), 0 while it waits. */
int livesign_result(struct livesign *ls, const struct conn *c, struct livesign_result *res);
/* The answer was sent: frees c's slot. */
void livesign_finish(struct livesign *ls, struct conn *c);
/* c is closing: forget its request (a late answer is dropped). */
void livesign_cancel(struct livesign *ls, struct conn *c);

/* The signer socket to poll and the poll(2) events wanted, or -1 when none is open. */
int livesign_fd(const struct livesign *ls, short *events);
/* Bumped whenever the socket is replaced, so a backend can drop a stale poll. */
uint32_t livesign_gen(const struct livesign *ls);
/* The socket became ready (revents from poll): send, receive, complete. */
void livesign_io(struct livesign *ls, short revents, int64_t mono);
/* Deadlines: answers not in within the timeout become tryLater. */
void livesign_tick(struct livesign *ls, int64_t mono);
/* A connection whose answer is in, to drive once; NULL when none. */
struct conn *livesign_ready(struct livesign *ls);

#endif
