/*
 * test_conn — the connection logic both network backends share (conn.c), with
 * no sockets in between: bytes go into a slot's read buffer as a backend would
 * put them there, conn_process() answers, and the output is read back through
 * conn_out_iov()/conn_sent() the way a backend sends it. The handler runs
 * without a store (so /healthz answers 503 and OCSP tryLater), which is enough
 * to see order, framing and connection handling.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

static struct handler h;
static struct server_params sp = {
    .listen = "127.0.0.1:1", .max_conns = 2, .idle_timeout_ms = 1000, .send_timeout_ms = 2000};
static struct server_worker w;
static struct conn_pool pool;
static int fds[2];

static void setup(void)
{
    cr_assert_eq(handler_init(&h, NULL, 60), 0);
    w = (struct server_worker){.p = &sp, .h = &h, .peers = NULL, .n_peers = 1, .wake_fd = -1};
    cr_assert_eq(conn_pool_init(&pool, &w), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    handler_batch_begin(&h, (int64_t)1700000000 * CONN_NS);
}

static void teardown(void)
{
    handler_batch_end(&h);
    for (uint32_t i = 0; i < pool.max_conns; i++) {
        if (pool.conns[i].fd >= 0)
            conn_release(&pool, &pool.conns[i]);
    }
    conn_pool_free(&pool);
    handler_free(&h);
    close(fds[0]);
    close(fds[1]);
}

static void feed(struct conn *c, const char *s)
{
    size_t n = strlen(s);
    cr_assert_leq(c->rlen + n, (size_t)CONN_RBUF);
    memcpy(c->rbuf + c->rlen, s, n);
    c->rlen += n;
}

/* Everything pending, as a backend would send it, "sent" in pieces of step bytes. */
static size_t drain(struct conn *c, char *out, size_t cap, size_t step)
{
    size_t len = 0;
    while (conn_out_pending(c)) {
        struct iovec iov[2];
        size_t n = conn_out_iov(c, iov), take = 0;
        for (size_t i = 0; i < n && take < step; i++) {
            size_t k = iov[i].iov_len < step - take ? iov[i].iov_len : step - take;
            cr_assert_leq(len + k, cap);
            memcpy(out + len, iov[i].iov_base, k);
            len += k;
            take += k;
        }
        conn_sent(&pool, c, take);
    }
    out[len] = 0;
    return len;
}

/* The status codes of the responses in out, in order, as "200 503 ...". */
static void statuses(const char *out, char *codes, size_t cap)
{
    codes[0] = 0;
    for (const char *p = out; (p = strstr(p, "HTTP/1.")); p += 8) {
        char one[8];
        snprintf(one, sizeof(one), "%s%.3s", codes[0] ? " " : "", p + 9);
        strncat(codes, one, cap - strlen(codes) - 1);
    }
}

TestSuite(conn, .init = setup, .fini = teardown);

Test(conn, pipelined_requests_answered_in_order)
{
    static char out[65536];
    char codes[64];
    struct conn *c = conn_open(&pool, fds[0]);
    cr_assert_not_null(c);
    feed(c, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
            "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"
            "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
            "GET /healthz HTTP/1.1\r\nHo"); /* a partial fourth stays */
    cr_assert_eq(conn_process(&pool, c), 0);
    drain(c, out, sizeof(out) - 1, 7);
    statuses(out, codes, sizeof(codes));
    cr_expect_str_eq(codes, "503 200 503");
    cr_expect_gt(c->rlen, 0, "the partial request is kept");
    cr_expect(!c->close_after);
    feed(c, "st: a\r\nConnection: close\r\n\r\n");
    cr_assert_eq(conn_process(&pool, c), 0);
    drain(c, out, sizeof(out) - 1, 1000);
    statuses(out, codes, sizeof(codes));
    cr_expect_str_eq(codes, "503");
    cr_expect(c->close_after, "Connection: close ends the connection after the answer");
    cr_expect(conn_idle(c));
}

Test(conn, continue_only_for_http11_and_once)
{
    static char out[4096];
    struct conn *c = conn_open(&pool, fds[0]);
    feed(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Type: application/ocsp-request\r\n"
            "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    cr_assert_eq(conn_process(&pool, c), 0);
    drain(c, out, sizeof(out) - 1, 4096);
    cr_expect_str_eq(out, HTTP_100_CONTINUE);
    cr_assert_eq(conn_process(&pool, c), 0);
    cr_expect(!conn_out_pending(c), "100 Continue is sent once per request");
    conn_release(&pool, c);

    c = conn_open(&pool, fds[0]);
    feed(c, "POST / HTTP/1.0\r\nContent-Type: application/ocsp-request\r\n"
            "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    cr_assert_eq(conn_process(&pool, c), 0);
    cr_expect(!conn_out_pending(c), "no 100 Continue for HTTP/1.0");
}

Test(conn, malformed_head_answers_and_closes)
{
    static char out[4096];
    char codes[64];
    struct conn *c = conn_open(&pool, fds[0]);
    feed(c, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nBLAH\x01 / HTTP/1.1\r\n\r\n"
            "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
    cr_assert_eq(conn_process(&pool, c), 0);
    drain(c, out, sizeof(out) - 1, 4096);
    statuses(out, codes, sizeof(codes));
    cr_expect_str_eq(codes, "503 400", "nothing is answered after the bad head");
    cr_expect(c->close_after);
    cr_expect_eq(c->rlen, 0);
}

Test(conn, slots_counters_and_timeouts)
{
    bool send_to;
    struct conn *a = conn_open(&pool, fds[0]);
    struct conn *b = conn_open(&pool, fds[1]);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_expect_null(conn_open(&pool, fds[0]), "max_conns slots, no more");
    cr_expect_eq(h.conns_open, 2);
    cr_expect_eq(h.conns_total, 2);
    cr_expect_null(conn_expired(&pool, &send_to));
    pool.mono += 500 * 1000000LL;
    conn_touch(&pool, a);
    pool.mono += 600 * 1000000LL; /* b idle 1.1 s, a 0.6 s */
    cr_expect_eq(conn_expired(&pool, &send_to), b);
    cr_expect(!send_to);
    conn_release(&pool, b);
    cr_expect_null(conn_expired(&pool, &send_to));
    cr_expect_eq(h.conns_open, 1);
    feed(a, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
    cr_assert_eq(conn_process(&pool, a), 0); /* output queued now, never sent */
    for (int i = 0; i < 3; i++) {
        pool.mono += 700 * 1000000LL;
        conn_touch(&pool, a); /* progress, but the output still waits */
    }
    cr_expect_eq(conn_expired(&pool, &send_to), a);
    cr_expect(send_to, "output unsent past send_timeout");
}
