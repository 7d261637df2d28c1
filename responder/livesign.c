/*
 * livesign — client of revokd-signer for one worker (see livesign.h). Slots
 * hold the requests in flight; a request's id on the wire is its slot index
 * and a per-slot generation, so an answer for a slot reused since (its
 * connection closed) is recognised and dropped. Waiting slots sit on a FIFO in
 * submission order, so the deadline check only ever looks at its head. The
 * socket is non-blocking; a connect that fails (signer down) is retried at most
 * every LIVESIGN_RETRY_NS, and meanwhile every request is tryLater at once.
 */
#include "livesign.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <poll.h>

#include "conn.h"
#include "log.h"
#include "ocsp.h"

#define LIVESIGN_RETRY_NS (200 * 1000000LL)
/* Bytes of request frames waiting to be written, at most: a full queue of
 * one-CertID requests fits many times over. */
#define LIVESIGN_OUT_MAX (1u << 20)
/* CertID cache key: hash, both issuer hashes, serial length, serial. */
#define LIVESIGN_KEY_MAX (1 + 2 * SIGNPROTO_HASH_MAX + 1 + SIGNPROTO_SERIAL_MAX)

enum livesign_state { LS_FREE = 0, LS_WAIT, LS_DONE };

struct livesign_slot {
    uint8_t state;
    uint16_t gen;
    struct conn *c;
    int64_t deadline;
    uint32_t fifo_next; /* UINT32_MAX: end */
    bool cacheable;
    uint8_t key[LIVESIGN_KEY_MAX];
    size_t key_len;
    uint8_t status;
    uint8_t *der;
    size_t der_len, der_cap;
};

struct livesign_cached {
    uint8_t key[LIVESIGN_KEY_MAX];
    size_t key_len;
    int64_t expires;
    uint8_t *der;
    size_t der_len;
};

struct livesign {
    struct livesign_params p;
    struct handler *h;
    int fd;
    uint32_t gen;
    int64_t retry_at;
    bool warned_down;
    struct livesign_slot *slots;
    uint32_t *free_stack, n_free;
    uint32_t fifo_head, fifo_tail; /* waiting slots, oldest first */
    uint32_t *ready;               /* done slots whose conn is to be driven */
    uint32_t ready_head, ready_len;
    double tokens;
    int64_t tokens_at;
    uint8_t *out;
    size_t out_len;
    uint8_t in[2 * SIGNPROTO_FRAME_MAX];
    size_t in_len;
    struct livesign_cached *cache;
    uint8_t frame[SIGNPROTO_FRAME_MAX];
};

int livesign_init(struct livesign **out, const struct livesign_params *p, struct handler *h)
{
    struct livesign *ls = calloc(1, sizeof(*ls));
    if (!ls)
        return -ENOMEM;
    ls->p = *p;
    if (ls->p.queue == 0 || ls->p.queue > 65536)
        ls->p.queue = 256;
    if (ls->p.rate == 0)
        ls->p.rate = 1;
    ls->h = h;
    ls->fd = -1;
    ls->fifo_head = ls->fifo_tail = UINT32_MAX;
    ls->tokens = ls->p.rate;
    ls->slots = calloc(ls->p.queue, sizeof(*ls->slots));
    ls->free_stack = calloc(ls->p.queue, sizeof(*ls->free_stack));
    ls->ready = calloc(2 * (size_t)ls->p.queue, sizeof(*ls->ready));
    ls->out = malloc(LIVESIGN_OUT_MAX);
    if (ls->p.cache)
        ls->cache = calloc(ls->p.cache, sizeof(*ls->cache));
    if (!ls->slots || !ls->free_stack || !ls->ready || !ls->out || (ls->p.cache && !ls->cache)) {
        livesign_free(ls);
        return -ENOMEM;
    }
    for (uint32_t i = ls->p.queue; i-- > 0;)
        ls->free_stack[ls->n_free++] = i;
    *out = ls;
    return 0;
}

void livesign_free(struct livesign *ls)
{
    if (!ls)
        return;
    if (ls->fd >= 0)
        close(ls->fd);
    for (uint32_t i = 0; ls->slots && i < ls->p.queue; i++)
        free(ls->slots[i].der);
    for (uint32_t i = 0; ls->cache && i < ls->p.cache; i++)
        free(ls->cache[i].der);
    free(ls->slots);
    free(ls->free_stack);
    free(ls->ready);
    free(ls->out);
    free(ls->cache);
    free(ls);
}

static size_t livesign_key(const struct signproto_certid *id, uint8_t key[LIVESIGN_KEY_MAX])
{
    size_t hl = id->hash == 1 ? 20 : 32, n = 0;
    key[n++] = id->hash;
    memcpy(key + n, id->name_hash, hl);
    n += hl;
    memcpy(key + n, id->key_hash, hl);
    n += hl;
    key[n++] = id->serial_len;
    memcpy(key + n, id->serial, id->serial_len);
    return n + id->serial_len;
}

/* FNV-1a: spreads random serials; the cache is bounded whatever the keys. */
static struct livesign_cached *livesign_cache_at(struct livesign *ls, const uint8_t *key,
                                                 size_t len)
{
    uint64_t x = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        x = (x ^ key[i]) * 1099511628211ULL;
    return &ls->cache[x % ls->p.cache];
}

static void livesign_count(struct livesign *ls, enum handler_live_result r)
{
    ls->h->live[r]++;
}

static void livesign_close(struct livesign *ls, int64_t mono)
{
    if (ls->fd >= 0)
        close(ls->fd);
    ls->fd = -1;
    ls->gen++;
    ls->out_len = ls->in_len = 0;
    ls->retry_at = mono + LIVESIGN_RETRY_NS;
}

static void livesign_complete(struct livesign *ls, uint32_t i, uint8_t status, const uint8_t *der,
                              size_t der_len)
{
    struct livesign_slot *s = &ls->slots[i];
    if (der_len > s->der_cap) {
        uint8_t *d = realloc(s->der, der_len);
        if (!d) {
            status = OCSP_INTERNAL_ERROR;
            der_len = 0;
        } else {
            s->der = d;
            s->der_cap = der_len;
        }
    }
    if (der_len)
        memcpy(s->der, der, der_len);
    s->der_len = der_len;
    s->status = status;
    s->state = LS_DONE;
    /* Twice the queue: stale entries of slots freed and reused are at most one each. */
    if (ls->ready_len < 2 * ls->p.queue)
        ls->ready[(ls->ready_head + ls->ready_len++) % (2 * ls->p.queue)] = i;
}

/* Every waiting request becomes tryLater: the socket is gone. */
static void livesign_fail_all(struct livesign *ls, enum handler_live_result why)
{
    while (ls->fifo_head != UINT32_MAX) {
        uint32_t i = ls->fifo_head;
        ls->fifo_head = ls->slots[i].fifo_next;
        if (ls->slots[i].state == LS_WAIT) {
            livesign_count(ls, why);
            livesign_complete(ls, i, OCSP_TRY_LATER, NULL, 0);
        }
    }
    ls->fifo_tail = UINT32_MAX;
}

static int livesign_connect(struct livesign *ls, int64_t mono)
{
    if (ls->fd >= 0)
        return 0;
    if (mono < ls->retry_at)
        return -EAGAIN;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(ls->p.path);
    if (n >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, ls->p.path, n + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        ls->retry_at = mono + LIVESIGN_RETRY_NS;
        if (!ls->warned_down)
            log_warn("signer %s: %s; live answers are tryLater until it is back", ls->p.path,
                     strerror(e));
        ls->warned_down = true;
        return -e;
    }
    if (ls->warned_down)
        log_info("signer %s: connected", ls->p.path);
    ls->warned_down = false;
    ls->fd = fd;
    ls->gen++;
    return 0;
}

static void livesign_flush(struct livesign *ls, int64_t mono)
{
    size_t off = 0;
    while (ls->fd >= 0 && off < ls->out_len) {
        ssize_t k = send(ls->fd, ls->out + off, ls->out_len - off, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            log_warn("signer %s: send: %s", ls->p.path, strerror(errno));
            livesign_close(ls, mono);
            livesign_fail_all(ls, HANDLER_L_SIGNER_DOWN);
            return;
        }
        off += (size_t)k;
    }
    if (ls->fd < 0)
        return;
    memmove(ls->out, ls->out + off, ls->out_len - off);
    ls->out_len -= off;
}

static bool livesign_take_token(struct livesign *ls, int64_t mono)
{
    double cap = ls->p.rate;
    if (mono > ls->tokens_at) { /* monotonic, but never let a step back drain it */
        ls->tokens += (double)(mono - ls->tokens_at) * ls->p.rate / 1e9;
        ls->tokens_at = mono;
    }
    if (ls->tokens > cap)
        ls->tokens = cap;
    if (ls->tokens < 1.0)
        return false;
    ls->tokens -= 1.0;
    return true;
}

int livesign_submit(struct livesign *ls, struct conn *c, struct signproto_req *req, int64_t mono,
                    struct livesign_result *res)
{
    uint8_t key[LIVESIGN_KEY_MAX];
    size_t key_len = 0;
    bool cacheable = req->n == 1 && req->nonce_len == 0 && ls->cache;
    *res = (struct livesign_result){.status = OCSP_TRY_LATER};
    if (cacheable) {
        key_len = livesign_key(&req->ids[0], key);
        struct livesign_cached *e = livesign_cache_at(ls, key, key_len);
        if (e->der && e->key_len == key_len && memcmp(e->key, key, key_len) == 0 &&
            mono < e->expires) {
            livesign_count(ls, HANDLER_L_CACHED);
            *res = (struct livesign_result){0, e->der, e->der_len};
            return 1;
        }
    }
    if (ls->n_free == 0) {
        livesign_count(ls, HANDLER_L_QUEUE_FULL);
        return 1;
    }
    if (livesign_connect(ls, mono) < 0) {
        livesign_count(ls, HANDLER_L_SIGNER_DOWN);
        return 1;
    }
    if (!livesign_take_token(ls, mono)) {
        livesign_count(ls, HANDLER_L_RATE_LIMITED);
        return 1;
    }
    uint32_t i = ls->free_stack[ls->n_free - 1];
    struct livesign_slot *s = &ls->slots[i];
    req->id = (uint32_t)(uint16_t)(s->gen + 1u) << 16 | i;
    int n = signproto_put_req(ls->frame, sizeof(ls->frame), req);
    if (n < 0 || LIVESIGN_OUT_MAX - ls->out_len < (size_t)n) {
        livesign_count(ls, n < 0 ? HANDLER_L_REFUSED : HANDLER_L_QUEUE_FULL);
        return 1;
    }
    memcpy(ls->out + ls->out_len, ls->frame, (size_t)n);
    ls->out_len += (size_t)n;
    ls->n_free--;
    s->gen++;
    s->state = LS_WAIT;
    s->c = c;
    s->deadline = mono + ls->p.timeout_ns;
    s->cacheable = cacheable;
    s->key_len = key_len;
    if (cacheable)
        memcpy(s->key, key, key_len);
    s->fifo_next = UINT32_MAX;
    if (ls->fifo_tail != UINT32_MAX)
        ls->slots[ls->fifo_tail].fifo_next = i;
    else
        ls->fifo_head = i;
    ls->fifo_tail = i;
    c->live_slot = (int32_t)i;
    /* Usually all of it; the rest when the socket says POLLOUT. Should the socket
     * break here, the slot is done (tryLater) and conn.c finds it so at once. */
    livesign_flush(ls, mono);
    return 0;
}

int livesign_result(struct livesign *ls, const struct conn *c, struct livesign_result *res)
{
    if (c->live_slot < 0)
        return 0;
    struct livesign_slot *s = &ls->slots[c->live_slot];
    if (s->state != LS_DONE)
        return 0;
    *res = (struct livesign_result){s->status, s->der_len ? s->der : NULL, s->der_len};
    return 1;
}

static void livesign_slot_free(struct livesign *ls, uint32_t i)
{
    struct livesign_slot *s = &ls->slots[i];
    s->state = LS_FREE;
    s->c = NULL;
    ls->free_stack[ls->n_free++] = i;
}

void livesign_finish(struct livesign *ls, struct conn *c)
{
    if (c->live_slot < 0)
        return;
    uint32_t i = (uint32_t)c->live_slot;
    c->live_slot = -1;
    if (ls->slots[i].state == LS_DONE)
        livesign_slot_free(ls, i);
}

void livesign_cancel(struct livesign *ls, struct conn *c)
{
    if (!ls || c->live_slot < 0)
        return;
    uint32_t i = (uint32_t)c->live_slot;
    struct livesign_slot *s = &ls->slots[i];
    c->live_slot = -1;
    /* A waiting slot stays on the FIFO with no connection: its answer (or its
     * deadline) puts it on the ready ring, where livesign_ready() frees it. A done
     * one is freed now; a stale ready-ring entry for it is skipped. */
    s->c = NULL;
    if (s->state == LS_DONE)
        livesign_slot_free(ls, i);
}

int livesign_fd(const struct livesign *ls, short *events)
{
    *events = POLLIN;
    if (ls->out_len)
        *events |= POLLOUT;
    return ls->fd;
}

uint32_t livesign_gen(const struct livesign *ls)
{
    return ls->gen;
}

static void livesign_on_frame(struct livesign *ls, const uint8_t *frame, size_t len, int64_t mono)
{
    struct signproto_resp r;
    if (signproto_parse_resp(frame, len, &r) < 0) {
        log_warn("signer %s: malformed answer; reconnecting", ls->p.path);
        livesign_close(ls, mono);
        livesign_fail_all(ls, HANDLER_L_SIGNER_DOWN);
        return;
    }
    uint32_t i = r.id & 0xffff;
    if (i >= ls->p.queue)
        return;
    struct livesign_slot *s = &ls->slots[i];
    if (s->state != LS_WAIT || s->gen != (uint16_t)(r.id >> 16))
        return; /* timed out already: dropped */
    /* Off the FIFO: answers come in request order, so it is normally the head. */
    uint32_t *pp = &ls->fifo_head, prev = UINT32_MAX;
    while (*pp != UINT32_MAX && *pp != i) {
        prev = *pp;
        pp = &ls->slots[*pp].fifo_next;
    }
    if (*pp == i) {
        *pp = s->fifo_next;
        if (ls->fifo_tail == i)
            ls->fifo_tail = prev;
    }
    livesign_count(ls, r.status == OCSP_SUCCESSFUL ? HANDLER_L_SIGNED : HANDLER_L_REFUSED);
    if (r.status == OCSP_SUCCESSFUL && s->cacheable && (r.flags & SIGNPROTO_F_UNLISTED)) {
        struct livesign_cached *e = livesign_cache_at(ls, s->key, s->key_len);
        uint8_t *d = realloc(e->der, r.der_len);
        if (d) {
            memcpy(d, r.der, r.der_len);
            e->der = d;
            e->der_len = r.der_len;
            memcpy(e->key, s->key, s->key_len);
            e->key_len = s->key_len;
            e->expires = mono + ls->p.cache_ttl_ns;
        }
    }
    livesign_complete(ls, i, r.status, r.der, r.der_len);
}

void livesign_io(struct livesign *ls, short revents, int64_t mono)
{
    if (ls->fd < 0)
        return;
    if (revents & POLLOUT)
        livesign_flush(ls, mono);
    while (ls->fd >= 0 && (revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t k = recv(ls->fd, ls->in + ls->in_len, sizeof(ls->in) - ls->in_len, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (k <= 0) {
            log_warn("signer %s: connection lost%s%s", ls->p.path, k < 0 ? ": " : "",
                     k < 0 ? strerror(errno) : "");
            livesign_close(ls, mono);
            livesign_fail_all(ls, HANDLER_L_SIGNER_DOWN);
            return;
        }
        ls->in_len += (size_t)k;
        size_t off = 0, flen;
        int rc;
        while (ls->fd >= 0 && (rc = signproto_frame(ls->in + off, ls->in_len - off, &flen)) == 0) {
            livesign_on_frame(ls, ls->in + off, flen, mono);
            off += flen;
        }
        if (ls->fd < 0)
            return;
        if (rc == -EMSGSIZE) {
            log_warn("signer %s: oversized answer; reconnecting", ls->p.path);
            livesign_close(ls, mono);
            livesign_fail_all(ls, HANDLER_L_SIGNER_DOWN);
            return;
        }
        memmove(ls->in, ls->in + off, ls->in_len - off);
        ls->in_len -= off;
    }
}

void livesign_tick(struct livesign *ls, int64_t mono)
{
    bool expired = false;
    while (ls->fifo_head != UINT32_MAX && ls->slots[ls->fifo_head].deadline <= mono) {
        uint32_t i = ls->fifo_head;
        ls->fifo_head = ls->slots[i].fifo_next;
        if (ls->fifo_head == UINT32_MAX)
            ls->fifo_tail = UINT32_MAX;
        livesign_count(ls, HANDLER_L_TIMEOUT);
        livesign_complete(ls, i, OCSP_TRY_LATER, NULL, 0);
        expired = true;
    }
    /* A signer that let a request time out is hung or far behind: start over,
     * so answers to requests already given up on do not hold up new ones. */
    if (expired && ls->fd >= 0) {
        log_warn("signer %s: no answer within the timeout; reconnecting", ls->p.path);
        livesign_close(ls, mono);
        livesign_fail_all(ls, HANDLER_L_TIMEOUT);
    }
}

struct conn *livesign_ready(struct livesign *ls)
{
    while (ls->ready_len) {
        uint32_t i = ls->ready[ls->ready_head];
        ls->ready_head = (ls->ready_head + 1) % (2 * ls->p.queue);
        ls->ready_len--;
        struct livesign_slot *s = &ls->slots[i];
        if (s->state == LS_DONE && s->c)
            return s->c;
        if (s->state == LS_DONE) /* its connection closed meanwhile */
            livesign_slot_free(ls, i);
    }
    return NULL;
}
