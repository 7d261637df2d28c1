/*
 * test_livesign — the responder's live-signing client against a fake signer on
 * a real Unix socket: the request on the wire, the answer back to its
 * connection, and every way it refuses at once (signer down, queue full, rate
 * spent), the deadline, the CertID cache, and an answer for a connection that
 * closed meanwhile. Time is passed in, so nothing here sleeps.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "livesign.h"
#include "ocsp.h"

#define SEC 1000000000LL

static char dir[64], path[96];
static int lfd = -1, sfd = -1;
static struct handler h;
static struct livesign *ls;

static void fake_listen(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_geq(lfd, 0);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(lfd, 8), 0);
}

static void setup(void)
{
    strcpy(dir, "/tmp/revokd-test-livesign-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s.sock", dir);
    memset(&h, 0, sizeof(h));
}

static void teardown(void)
{
    livesign_free(ls);
    ls = NULL;
    if (sfd >= 0)
        close(sfd);
    if (lfd >= 0)
        close(lfd);
    sfd = lfd = -1;
    unlink(path);
    rmdir(dir);
}

TestSuite(livesign, .init = setup, .fini = teardown);

static void start(uint32_t queue, uint32_t rate, uint32_t cache)
{
    struct livesign_params p = {.path = path,
                                .queue = queue,
                                .rate = rate,
                                .timeout_ns = 2 * SEC,
                                .cache = cache,
                                .cache_ttl_ns = 60 * SEC};
    cr_assert_eq(livesign_init(&ls, &p, &h), 0);
}

static void one_req(struct signproto_req *r, uint8_t serial)
{
    memset(r, 0, sizeof(*r));
    r->n = 1;
    r->ids[0].hash = 1;
    memset(r->ids[0].name_hash, 0x11, 20);
    memset(r->ids[0].key_hash, 0x22, 20);
    r->ids[0].serial_len = 1;
    r->ids[0].serial[0] = serial;
}

/* The fake signer reads one SIGN frame and returns it parsed. */
static void signer_read(struct signproto_req *got)
{
    static uint8_t buf[SIGNPROTO_FRAME_MAX];
    size_t len = 0, flen;
    if (sfd < 0)
        sfd = accept(lfd, NULL, NULL);
    cr_assert_geq(sfd, 0);
    while (signproto_frame(buf, len, &flen) == -EAGAIN) {
        ssize_t k = recv(sfd, buf + len, sizeof(buf) - len, 0);
        cr_assert_gt(k, 0);
        len += (size_t)k;
    }
    cr_assert_eq(flen, len, "one frame at a time here");
    cr_assert_eq(signproto_parse_req(buf, flen, got), 0);
}

static void signer_answer(uint32_t id, uint8_t status, uint8_t flags, const uint8_t *der,
                          size_t len)
{
    uint8_t buf[512];
    struct signproto_resp r = {
        .id = id, .status = status, .flags = flags, .der = der, .der_len = len};
    int n = signproto_put_resp(buf, sizeof(buf), &r);
    cr_assert_gt(n, 0);
    cr_assert_eq(send(sfd, buf, (size_t)n, 0), n);
}

static const uint8_t der_ok[] = {0x30, 0x03, 0x0a, 0x01, 0x00};

Test(livesign, signer_down_is_trylater_at_once)
{
    struct conn c = {.live_slot = -1};
    struct signproto_req r;
    struct livesign_result res;
    start(4, 100, 0);
    one_req(&r, 1);
    cr_assert_eq(livesign_submit(ls, &c, &r, SEC, &res), 1);
    cr_assert_eq(res.status, OCSP_TRY_LATER);
    cr_assert_eq(c.live_slot, -1);
    cr_assert_eq(h.live[HANDLER_L_SIGNER_DOWN], 1);
    short ev;
    cr_assert_eq(livesign_fd(ls, &ev), -1);
    /* it comes up: the next connect is tried only after the retry pause */
    fake_listen();
    cr_assert_eq(livesign_submit(ls, &c, &r, SEC + 1, &res), 1);
    cr_assert_eq(h.live[HANDLER_L_SIGNER_DOWN], 2);
    cr_assert_eq(livesign_submit(ls, &c, &r, 2 * SEC, &res), 0);
    cr_assert_geq(c.live_slot, 0);
}

Test(livesign, request_on_the_wire_and_answer_back)
{
    struct conn c = {.live_slot = -1};
    struct signproto_req r, got;
    struct livesign_result res;
    fake_listen();
    start(4, 100, 16);
    one_req(&r, 0x42);
    memcpy(r.nonce, "\x04\x01\x99", 3);
    r.nonce_len = 3;
    cr_assert_eq(livesign_submit(ls, &c, &r, SEC, &res), 0);
    cr_assert_eq(livesign_result(ls, &c, &res), 0, "nothing yet");
    signer_read(&got);
    cr_assert_eq(got.n, 1);
    cr_assert_eq(got.ids[0].serial[0], 0x42);
    cr_assert_eq(got.nonce_len, 3);
    cr_assert_arr_eq(got.nonce, "\x04\x01\x99", 3);
    signer_answer(got.id, 0, 0, der_ok, sizeof(der_ok));
    livesign_io(ls, POLLIN, SEC);
    cr_assert_eq(livesign_ready(ls), &c);
    cr_assert_null(livesign_ready(ls));
    cr_assert_eq(livesign_result(ls, &c, &res), 1);
    cr_assert_eq(res.status, 0);
    cr_assert_eq(res.der_len, sizeof(der_ok));
    cr_assert_arr_eq(res.der, der_ok, sizeof(der_ok));
    livesign_finish(ls, &c);
    cr_assert_eq(c.live_slot, -1);
    cr_assert_eq(h.live[HANDLER_L_SIGNED], 1);
}

Test(livesign, queue_and_rate_bound_the_signer)
{
    struct conn c[4] = {{.live_slot = -1}, {.live_slot = -1}, {.live_slot = -1}, {.live_slot = -1}};
    struct signproto_req r;
    struct livesign_result res;
    fake_listen();
    start(2, 3, 0);
    one_req(&r, 1);
    cr_assert_eq(livesign_submit(ls, &c[0], &r, SEC, &res), 0);
    cr_assert_eq(livesign_submit(ls, &c[1], &r, SEC, &res), 0);
    cr_assert_eq(livesign_submit(ls, &c[2], &r, SEC, &res), 1, "queue of 2 is full");
    cr_assert_eq(res.status, OCSP_TRY_LATER);
    cr_assert_eq(h.live[HANDLER_L_QUEUE_FULL], 1);
    /* free the slots through the deadline, then spend the rate (3/s, 1 left) */
    livesign_tick(ls, 3 * SEC + 1);
    cr_assert_eq(h.live[HANDLER_L_TIMEOUT], 2);
    cr_assert_eq(livesign_ready(ls), &c[0]);
    cr_assert_eq(livesign_result(ls, &c[0], &res), 1);
    cr_assert_eq(res.status, OCSP_TRY_LATER);
    livesign_finish(ls, &c[0]);
    cr_assert_eq(livesign_ready(ls), &c[1]);
    livesign_finish(ls, &c[1]);
    /* the timeout closed the socket; after the retry pause it reconnects, and the
     * two free slots take two requests (a cancelled one keeps its slot until its
     * answer or deadline) */
    int queued = 0;
    for (int i = 0; i < 4; i++) {
        struct conn x = {.live_slot = -1};
        if (livesign_submit(ls, &x, &r, 4 * SEC, &res) == 0) {
            queued++;
            livesign_cancel(ls, &x);
        }
    }
    cr_assert_eq(queued, 2);
    cr_assert_eq(h.live[HANDLER_L_QUEUE_FULL], 3);
}

Test(livesign, rate_limit_is_a_token_bucket)
{
    struct signproto_req r;
    struct livesign_result res;
    fake_listen();
    start(64, 5, 0);
    one_req(&r, 1);
    int ok = 0;
    for (int i = 0; i < 20; i++) {
        struct conn x = {.live_slot = -1};
        if (livesign_submit(ls, &x, &r, SEC, &res) == 0) {
            ok++;
            livesign_cancel(ls, &x);
        }
    }
    cr_assert_eq(ok, 5, "one second deep: 5 at once");
    cr_assert_eq(h.live[HANDLER_L_RATE_LIMITED], 15);
    /* 400 ms later, 2 more tokens */
    ok = 0;
    for (int i = 0; i < 5; i++) {
        struct conn x = {.live_slot = -1};
        if (livesign_submit(ls, &x, &r, SEC + 400000000, &res) == 0) {
            ok++;
            livesign_cancel(ls, &x);
        }
    }
    cr_assert_eq(ok, 2);
}

Test(livesign, unlisted_answers_are_cached_by_certid)
{
    struct conn c = {.live_slot = -1};
    struct signproto_req r, got;
    struct livesign_result res;
    fake_listen();
    start(4, 100, 16);
    one_req(&r, 7);
    cr_assert_eq(livesign_submit(ls, &c, &r, SEC, &res), 0);
    signer_read(&got);
    signer_answer(got.id, 0, SIGNPROTO_F_UNLISTED, der_ok, sizeof(der_ok));
    livesign_io(ls, POLLIN, SEC);
    cr_assert_eq(livesign_ready(ls), &c);
    livesign_finish(ls, &c);
    /* same CertID: from the cache, no signer round trip, until the TTL */
    one_req(&r, 7);
    cr_assert_eq(livesign_submit(ls, &c, &r, 2 * SEC, &res), 1);
    cr_assert_eq(res.status, 0);
    cr_assert_arr_eq(res.der, der_ok, sizeof(der_ok));
    cr_assert_eq(h.live[HANDLER_L_CACHED], 1);
    /* another serial, or with a nonce: never from the cache */
    one_req(&r, 8);
    cr_assert_eq(livesign_submit(ls, &c, &r, 2 * SEC, &res), 0);
    livesign_cancel(ls, &c);
    one_req(&r, 7);
    r.nonce_len = 3;
    memcpy(r.nonce, "\x04\x01\x01", 3);
    cr_assert_eq(livesign_submit(ls, &c, &r, 2 * SEC, &res), 0);
    livesign_cancel(ls, &c);
    one_req(&r, 7);
    cr_assert_eq(livesign_submit(ls, &c, &r, 62 * SEC, &res), 0, "expired: asked again");
    cr_assert_eq(h.live[HANDLER_L_CACHED], 1);
}

Test(livesign, answer_for_a_closed_connection_is_dropped)
{
    struct conn c = {.live_slot = -1}, d = {.live_slot = -1};
    struct signproto_req r, got;
    struct livesign_result res;
    fake_listen();
    start(1, 100, 0);
    one_req(&r, 1);
    cr_assert_eq(livesign_submit(ls, &c, &r, SEC, &res), 0);
    signer_read(&got);
    livesign_cancel(ls, &c); /* the client went away */
    cr_assert_eq(c.live_slot, -1);
    signer_answer(got.id, 0, 0, der_ok, sizeof(der_ok));
    livesign_io(ls, POLLIN, SEC);
    cr_assert_null(livesign_ready(ls), "no connection to drive");
    /* its slot is free again (queue of 1) */
    cr_assert_eq(livesign_submit(ls, &d, &r, SEC, &res), 0);
    /* an answer with a stale id (the old generation) does not complete d */
    signer_answer(got.id, 0, 0, der_ok, sizeof(der_ok));
    livesign_io(ls, POLLIN, SEC);
    cr_assert_eq(livesign_result(ls, &d, &res), 0);
}

Test(livesign, signer_gone_fails_waiting_requests)
{
    struct conn c = {.live_slot = -1};
    struct signproto_req r, got;
    struct livesign_result res;
    fake_listen();
    start(4, 100, 0);
    one_req(&r, 1);
    cr_assert_eq(livesign_submit(ls, &c, &r, SEC, &res), 0);
    signer_read(&got);
    close(sfd);
    sfd = -1;
    livesign_io(ls, POLLIN, SEC);
    cr_assert_eq(livesign_ready(ls), &c);
    cr_assert_eq(livesign_result(ls, &c, &res), 1);
    cr_assert_eq(res.status, OCSP_TRY_LATER);
    cr_assert_eq(h.live[HANDLER_L_SIGNER_DOWN], 1);
    short ev;
    cr_assert_eq(livesign_fd(ls, &ev), -1);
}
