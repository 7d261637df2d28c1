/*
 * server — the responder's network backends behind one interface, and the
 * workers that run them. main() starts `workers` threads; each owns a
 * SO_REUSEPORT listener, a struct handler (its own store read txn) and one
 * event loop (an io_uring ring, or a libev loop), so workers share nothing on
 * the hot path. A backend parses heads with http.h, gets every response from
 * handler.h and keeps connection state with conn.h, so backends differ only in
 * how bytes move. io_uring (server_uring.c) is preferred; libev (server_ev.c) is
 * the portable fallback.
 *
 * Signals are taken by main() alone (sigwait; the workers block them) and passed
 * on through struct server_ctl plus a write to each worker's eventfd: on stop a
 * worker closes its listener, closes idle connections, lets in-flight requests
 * finish (bounded by the idle timeout) and returns 0; on reload it swaps its
 * handler to the newly opened store between two batches and acknowledges, after
 * which main() closes the old store. Connections stay open across a reload.
 *
 * Every backend keeps time the same way: timeouts on CLOCK_MONOTONIC (a wall
 * clock step must neither keep idle connections forever nor close them all at
 * once), the handler's "now" from CLOCK_REALTIME with nanoseconds (responses are
 * compared with nextUpdate exactly), each read once per loop iteration.
 */
#ifndef REVOKD_SERVER_H
#define REVOKD_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handler.h"

struct livesign_params;

/* listen(2) backlog. */
#define SERVER_BACKLOG 4096

struct server_params {
    const char *listen; /* "host:port" or "[v6]:port" */
    uint32_t max_conns; /* connection slots of this worker ([responder] max_conns / workers) */
    uint32_t idle_timeout_ms; /* close a connection with no progress for this long */
    uint32_t send_timeout_ms; /* close one whose queued output is not all sent in this long */
    uint32_t send_buffer;     /* SO_SNDBUF of each accepted socket, bytes (0: kernel default) */
    uint32_t max_age;         /* for handler_init on reload */
    const struct livesign_params *live; /* revokd-signer client per worker, or NULL: none */
};

/* What main() tells the workers; written by main, read by workers (relaxed + eventfd). */
struct server_ctl {
    atomic_bool stop;                   /* stop accepting, drain, return */
    atomic_bool force;                  /* a second stop signal: return now */
    atomic_uint reload_gen;             /* bumped per reload; a worker acts when it differs */
    struct store *_Atomic reload_store; /* the store to switch to */
    atomic_uint reload_acks;            /* workers done switching for reload_gen */
    atomic_bool go; /* set up for good (privileges dropped, sandbox on): serve */
};

struct server_worker {
    const struct server_params *p;
    struct server_ctl *ctl;
    struct handler *h;            /* this worker's */
    struct handler *const *peers; /* every worker's handler, for /metrics totals */
    uint32_t n_peers;
    uint32_t id;
    int wake_fd;       /* eventfd main() writes to after changing ctl */
    unsigned seen_gen; /* reload_gen last acted on */
    atomic_bool ready; /* listening: main may drop privileges */
    int rc;            /* run()'s result */
};

struct server_backend {
    const char *name; /* the [responder] backend value that selects it */
    /*
     * Whether this backend can run here: 0, or a negative errno with a reason
     * in why. NULL when it always can.
     */
    int (*probe)(char *why, size_t why_len);
    /* Serves until told to stop. Returns 0, or a negative errno if it could not start. */
    int (*run)(struct server_worker *w);
};

extern const struct server_backend server_backend_ev;
extern const struct server_backend server_backend_uring;

/*
 * Opens a non-blocking listening TCP socket on addr (SO_REUSEADDR, SO_REUSEPORT
 * so several processes or threads can share the port, backlog SERVER_BACKLOG).
 * Shared by the backends. Returns the fd, or a negative errno (logged).
 */
int server_listen(const char *addr);

/*
 * Between batches: if main() asked for a reload since the worker last looked,
 * re-initialises the worker's handler on the new store, keeping its counters,
 * and acknowledges. Returns true if it did.
 */
bool server_worker_reload(struct server_worker *w);

/*
 * After setting w->ready: waits until main() says go (or stop), so no request
 * is served before main has dropped privileges and installed the sandbox.
 */
void server_worker_wait_go(struct server_worker *w);

/* Drains the worker's eventfd after a wake-up. */
void server_worker_woken(struct server_worker *w);

/*
 * Before serving /metrics on a worker whose peers count too: puts the totals
 * over every worker into h's counters, keeping h's own (save[0]) and the totals
 * (save[1]); server_metrics_end() restores h's own plus whatever the request
 * itself counted. Peers' counters are read with
 * relaxed atomic loads while their owners write them (plain aligned 64-bit
 * stores): each value is one the owner wrote, the sum is not a single instant.
 */
struct server_counters {
    uint64_t requests[HANDLER_METHODS][HANDLER_R_COUNT];
    uint64_t stale, ocsp_bytes, crl_bytes, conns_open, conns_total, idle_timeouts, send_timeouts;
    uint64_t live[HANDLER_L_COUNT];
};
void server_metrics_begin(struct server_worker *w, struct server_counters save[2]);
void server_metrics_end(struct server_worker *w, const struct server_counters save[2]);

#endif
