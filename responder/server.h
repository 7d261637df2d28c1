/*
 * server — the responder's network backends behind one interface. A backend
 * owns the listening socket, the connections and the event loop; it parses
 * heads with http.h and gets every response from handler.h, so backends differ
 * only in how bytes move. libev (server_ev.c) is the portable fallback; an
 * io_uring backend slots in as another struct server_backend. A backend runs
 * until SIGTERM or SIGINT, then stops accepting, lets in-flight requests
 * finish (bounded by the idle timeout) and returns 0.
 *
 * Every backend keeps time the same way: timeouts on CLOCK_MONOTONIC (a wall
 * clock step must neither keep idle connections forever nor close them all at
 * once), the handler's "now" from CLOCK_REALTIME with nanoseconds (responses are
 * compared with nextUpdate exactly), each read once per loop iteration.
 */
#ifndef REVOKD_SERVER_H
#define REVOKD_SERVER_H

#include <stdint.h>

#include "handler.h"

/* listen(2) backlog. */
#define SERVER_BACKLOG 4096

struct server_params {
    const char *listen;       /* "host:port" or "[v6]:port" */
    uint32_t max_conns;       /* connection slots, all preallocated */
    uint32_t idle_timeout_ms; /* close a connection with no progress for this long */
    uint32_t send_timeout_ms; /* close one whose queued output is not all sent in this long */
    uint32_t send_buffer;     /* SO_SNDBUF of each accepted socket, bytes (0: kernel default) */
};

struct server_backend {
    const char *name; /* the [responder] backend value that selects it */
    /* Serves until told to stop. Returns 0, or a negative errno if it could not start. */
    int (*run)(const struct server_params *p, struct handler *h);
};

extern const struct server_backend server_backend_ev;

/*
 * Opens a non-blocking listening TCP socket on addr (SO_REUSEADDR, SO_REUSEPORT
 * so several processes or threads can share the port, backlog SERVER_BACKLOG).
 * Shared by the backends. Returns the fd, or a negative errno (logged).
 */
int server_listen(const char *addr);

#endif
