/*
 * test_server — /metrics totals over workers (server.c): a worker answering
 * /metrics reports every worker's counters summed, and afterwards keeps its own
 * counters, plus the /metrics request itself, not the totals.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "conn.h"
#include "server.h"

static struct handler hs[3];

Test(server, metrics_totals_over_workers)
{
    struct handler *peers[3] = {&hs[0], &hs[1], &hs[2]};
    struct server_params sp = {.listen = "127.0.0.1:1", .max_conns = 1};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(handler_init(&hs[i], NULL, 60), 0);
        hs[i].conns_open = (uint64_t)i + 1;
        hs[i].conns_total = 10 * ((uint64_t)i + 1);
        hs[i].idle_timeouts = 100;
        hs[i].requests[HTTP_GET][HANDLER_R_OK] = 1000 * ((uint64_t)i + 1);
    }
    struct server_worker w = {.p = &sp, .h = &hs[1], .peers = peers, .n_peers = 3};
    struct conn_pool pool;
    cr_assert_eq(conn_pool_init(&pool, &w), 0);
    handler_batch_begin(&hs[1], (int64_t)1700000000 * CONN_NS);
    struct conn *c = conn_open(&pool, -1); /* counts a connection on worker 1 */
    cr_assert_not_null(c);
    const char *req = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";
    memcpy(c->rbuf, req, strlen(req));
    c->rlen = strlen(req);
    cr_assert_eq(conn_process(&pool, c), 0);
    cr_assert(c->wlen > 0 || c->blob);
    struct iovec iov[2];
    size_t n = conn_out_iov(c, iov);
    static char out[HANDLER_SCRATCH_MAX + HANDLER_HDR_MAX + 1];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    out[len] = 0;
    cr_expect(strstr(out, "\nrevokd_connections_open 7\n"), "1+2+3 open, +1 just opened");
    cr_expect(strstr(out, "\nrevokd_connections_total 61\n"));
    cr_expect(strstr(out, "\nrevokd_idle_timeouts_total 300\n"));
    /* worker 1's own counters again, plus what the /metrics request counted */
    cr_expect_eq(hs[1].conns_open, 3);
    cr_expect_eq(hs[1].conns_total, 21);
    cr_expect_eq(hs[1].idle_timeouts, 100);
    cr_expect_eq(hs[1].requests[HTTP_GET][HANDLER_R_OK], 2000);
    cr_expect_eq(hs[1].requests[HTTP_GET][HANDLER_R_META], 1);
    cr_expect_eq(hs[0].conns_open, 1, "peers untouched");
    conn_release(&pool, c);
    handler_batch_end(&hs[1]);
    conn_pool_free(&pool);
    for (int i = 0; i < 3; i++)
        handler_free(&hs[i]);
}
