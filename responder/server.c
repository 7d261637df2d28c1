/*
 * server — what the backends share beyond connections: the listening socket,
 * a worker's reaction to main()'s reload requests, and /metrics totals over
 * the workers (see server.h).
 */
#include "server.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

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

void server_worker_wait_go(struct server_worker *w)
{
    while (!atomic_load(&w->ctl->go) && !atomic_load(&w->ctl->stop))
        nanosleep(&(struct timespec){0, 1000000}, NULL);
}

void server_worker_woken(struct server_worker *w)
{
    uint64_t v;
    while (read(w->wake_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
        ;
}

bool server_worker_reload(struct server_worker *w)
{
    unsigned gen = atomic_load_explicit(&w->ctl->reload_gen, memory_order_acquire);
    if (gen == w->seen_gen)
        return false;
    w->seen_gen = gen;
    struct store *s = atomic_load_explicit(&w->ctl->reload_store, memory_order_acquire);
    struct handler *h = w->h;
    /* Counters (and whatever else precedes the scratch buffer) survive the swap;
     * only the store and its txn are new. */
    static _Thread_local struct handler keep;
    memcpy(&keep, h, offsetof(struct handler, scratch));
    handler_free(h);
    int rc = handler_init(h, s, w->p->max_age);
    struct store_txn txn = h->txn;
    bool open = h->txn_open;
    memcpy(h, &keep, offsetof(struct handler, scratch));
    h->txn = txn;
    h->txn_open = open;
    h->txn_live = h->txn_failed = false;
    h->store = rc < 0 ? NULL : s;
    if (rc < 0)
        log_err("worker %u: reload: cannot begin a read transaction: %s", w->id, strerror(-rc));
    atomic_fetch_add_explicit(&w->ctl->reload_acks, 1, memory_order_acq_rel);
    return true;
}

static void server_counters_get(const struct handler *h, struct server_counters *c)
{
#define RD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
    for (int m = 0; m < HANDLER_METHODS; m++)
        for (int r = 0; r < HANDLER_R_COUNT; r++)
            c->requests[m][r] = RD(h->requests[m][r]);
    c->stale = RD(h->stale);
    c->ocsp_bytes = RD(h->ocsp_bytes);
    c->crl_bytes = RD(h->crl_bytes);
    c->conns_open = RD(h->conns_open);
    c->conns_total = RD(h->conns_total);
    c->idle_timeouts = RD(h->idle_timeouts);
    c->send_timeouts = RD(h->send_timeouts);
    for (int r = 0; r < HANDLER_L_COUNT; r++)
        c->live[r] = RD(h->live[r]);
#undef RD
}

static void server_counters_set(struct handler *h, const struct server_counters *c)
{
    memcpy(h->requests, c->requests, sizeof(h->requests));
    h->stale = c->stale;
    h->ocsp_bytes = c->ocsp_bytes;
    h->crl_bytes = c->crl_bytes;
    h->conns_open = c->conns_open;
    h->conns_total = c->conns_total;
    h->idle_timeouts = c->idle_timeouts;
    h->send_timeouts = c->send_timeouts;
    memcpy(h->live, c->live, sizeof(h->live));
}

/* a += b - c, field by field */
static void server_counters_mix(struct server_counters *a, const struct server_counters *b,
                                const struct server_counters *c)
{
    uint64_t *pa = (uint64_t *)a;
    const uint64_t *pb = (const uint64_t *)b, *pc = (const uint64_t *)c;
    for (size_t i = 0; i < sizeof(*a) / sizeof(uint64_t); i++)
        pa[i] += pb[i] - pc[i];
}

void server_metrics_begin(struct server_worker *w, struct server_counters save[2])
{
    struct server_counters peer;
    server_counters_get(w->h, &save[0]);
    memset(&save[1], 0, sizeof(save[1]));
    struct server_counters zero = {0};
    for (uint32_t i = 0; i < w->n_peers; i++) {
        server_counters_get(w->peers[i], &peer);
        server_counters_mix(&save[1], &peer, &zero);
    }
    server_counters_set(w->h, &save[1]);
}

void server_metrics_end(struct server_worker *w, const struct server_counters save[2])
{
    struct server_counters now, own = save[0];
    server_counters_get(w->h, &now);
    server_counters_mix(&own, &now, &save[1]); /* what serving /metrics counted */
    server_counters_set(w->h, &own);
}
