/*
 * handler — turns one parsed HTTP request into response bytes, with no I/O, no
 * allocation and no clock reads, so every server backend (libev now, io_uring
 * later) shares it and tests drive it directly. It answers OCSP over POST and
 * RFC 5019 GET from the pre-signed responses in the store, serves full CRLs,
 * /healthz and /metrics, and keeps the counters /metrics reports.
 *
 * Batches: a backend calls handler_batch_begin() with the time once, serves any
 * number of requests, copies each response out, then calls handler_batch_end().
 * The store read txn is renewed lazily on the batch's first store access and
 * reset at its end, so an idle responder pins no LMDB snapshot and every batch
 * sees the indexer's latest commit.
 *
 * Ownership: struct handler is caller-allocated; it owns only its read txn (begun
 * by handler_init, aborted by handler_free). The store must outlive it.
 */
#ifndef REVOKD_HANDLER_H
#define REVOKD_HANDLER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "signproto.h"
#include "store.h"

/* Room the caller gives http_out.hdr: enough for the longest header block we write. */
#define HANDLER_HDR_MAX 1024
/* Room for bodies the handler formats itself (/metrics, /healthz, status JSON): /metrics
 * writes about 1.5 KB per issuer (health and expiry families), so CONFIG_MAX_ISSUERS fit. */
#define HANDLER_SCRATCH_MAX 262144

/* What a request came to, for revokd_requests_total{result=...}. */
enum handler_result {
    HANDLER_R_OK = 0,       /* pre-signed OCSP response served */
    HANDLER_R_UNAUTHORIZED, /* no response for that CertID, or hash we do not serve */
    HANDLER_R_MALFORMED,    /* not one strict DER OCSP request */
    HANDLER_R_TRYLATER,     /* stale pre-signed response, or store unavailable */
    HANDLER_R_INTERNAL,     /* store read error */
    HANDLER_R_CRL,          /* CRL served */
    HANDLER_R_META,         /* /healthz, /metrics */
    HANDLER_R_NOT_FOUND,    /* 404 */
    HANDLER_R_HTTP_ERROR,   /* any other 4xx/5xx */
    HANDLER_R_COUNT
};
/* Live signing outcomes (docs/signer.md), for revokd_live_requests_total{result=...}. */
enum handler_live_result {
    HANDLER_L_SIGNED = 0,   /* revokd-signer answered with a signed response */
    HANDLER_L_CACHED,       /* a cached live answer served */
    HANDLER_L_REFUSED,      /* the signer answered with an error status (unauthorized ...) */
    HANDLER_L_QUEUE_FULL,   /* tryLater: [responder] live_queue requests already wait */
    HANDLER_L_RATE_LIMITED, /* tryLater: [responder] live_rate spent */
    HANDLER_L_SIGNER_DOWN,  /* tryLater: no connection to revokd-signer */
    HANDLER_L_TIMEOUT,      /* tryLater: no answer within [responder] live_timeout */
    HANDLER_L_COUNT
};

/* What a serial the store does not list gets ([issuer] unknown_serial). */
enum handler_unknown { HANDLER_UNKNOWN_UNAUTHORIZED = 0, HANDLER_UNKNOWN_LIVE };

/* Per-issuer live-signing policy, from the config (main.c); matched by store name. */
struct handler_live_issuer {
    char name[STORE_NAME_MAX];
    uint8_t unknown; /* enum handler_unknown; `unknown` and `revoked` are both LIVE here */
    bool nonce_echo; /* [issuer] nonce = echo */
};
struct handler_live {
    int64_t margin_ns;       /* [responder] live_margin */
    bool any_echo;           /* some issuer has nonce = echo: only then look a nonce's issuer up */
    const char *signer_path; /* [signer] socket, probed by /healthz and /metrics */
    size_t n;
    struct handler_live_issuer iss[64]; /* CONFIG_MAX_ISSUERS; handler.h stays config-free */
};

/* handler_serve()'s answer when the request needs a live signature: h->live_req. */
#define HANDLER_LIVE 1

/* Values of *handler.store_moved. */
enum { HANDLER_STORE_CURRENT = 0, HANDLER_STORE_REMOVED = 1, HANDLER_STORE_REPLACED = 2 };

/* Method index for the counters: enum http_method values. */
#define HANDLER_METHODS 4

struct handler {
    struct store *store;  /* NULL: no store; /healthz answers 503, OCSP tryLater */
    struct store_txn txn; /* the one read txn, reset between batches */
    bool txn_open;        /* begun (handler_init) */
    bool txn_live;        /* renewed in this batch */
    bool txn_failed;      /* renew failed in this batch: do not retry until the next */
    int64_t now;          /* Unix seconds (floor of now_ns), for Date and max-age */
    int64_t now_ns;       /* Unix nanoseconds, from handler_batch_begin: staleness is exact */
    uint32_t max_age;     /* Cache-Control max-age cap for GET, seconds */
    int64_t date_at;      /* the second date[] was formatted for */
    size_t date_len;      /* 0: not formatted yet */
    char date[32];        /* IMF-fixdate of date_at, for the Date header */
    bool status_api;      /* serve GET /api/v1/status/...; on after handler_init */
    /* The network backend that runs, for revokd_backend_info; set by main. */
    const char *backend_name;
    /* Set by main: true once the seccomp filter is installed (sandbox.h), for
     * revokd_seccomp. NULL: not reported. */
    const atomic_bool *seccomp;
    /* Set by main: HANDLER_STORE_* of the open store against what [store] path holds
     * now; /healthz reports a store removed or replaced under us. NULL: not watched. */
    const atomic_int *store_moved;

    /* Counters, for /metrics. The backend maintains the conns_* gauges. */
    uint64_t requests[HANDLER_METHODS][HANDLER_R_COUNT];
    uint64_t stale;                 /* pre-signed responses found past nextUpdate */
    uint64_t ocsp_bytes, crl_bytes; /* body bytes served (HEAD not counted) */
    uint64_t conns_open, conns_total;
    uint64_t idle_timeouts, send_timeouts; /* connections closed for either, by the backend */
    uint64_t live[HANDLER_L_COUNT];        /* live-signing outcomes, kept by livesign.c */
    /* Live signing policy, or NULL: no [signer] socket, every miss answered at once. */
    const struct handler_live *live_policy;

    char scratch[HANDLER_SCRATCH_MAX]; /* /metrics body */
    /* The request handler_serve() returned HANDLER_LIVE for (transient). */
    struct signproto_req live_req;
};

/*
 * Prepares h to serve from s (which may be NULL) with max_age as the GET cache
 * cap, and begins its read txn. Returns 0 or a negative errno.
 */
int handler_init(struct handler *h, struct store *s, uint32_t max_age);
void handler_free(struct handler *h);

/*
 * Switches the JSON status API (GET /api/v1/status/{issuer}/{serial-hex},
 * docs/http.md) on or off; handler_init() leaves it on. Off, its paths are
 * answered as if the route did not exist (404 for GET and HEAD).
 */
void handler_set_status_api(struct handler *h, bool on);

/*
 * Starts a batch at Unix time now_ns (nanoseconds, CLOCK_REALTIME: a response is
 * served only while now_ns <= its nextUpdate, compared exactly, so the clock must
 * not be truncated to seconds first). The store txn is renewed on first use.
 */
void handler_batch_begin(struct handler *h, int64_t now_ns);
/*
 * Ends the batch: resets the read txn, after which bodies that pointed into the
 * store map are no longer valid. Call it once every response of the batch has
 * been copied out.
 */
void handler_batch_end(struct handler *h);

/*
 * Checks a request head before its body is read. Returns 0 if the backend should
 * read content_length body bytes and call handler_serve(), or an HTTP status
 * (413 body over OCSP_REQ_MAX, 501 Transfer-Encoding, 417 unknown Expect) to
 * answer at once with handler_error() and then close, leaving the body unread.
 */
int handler_head_check(const struct http_req *req);

/*
 * Serves one request whose body (content_length bytes, or none) is complete.
 * The caller sets out->hdr and out->hdr_cap (HANDLER_HDR_MAX is always enough);
 * the handler fills the rest. out->body points into the store map, into
 * h->scratch or at static bytes: it is valid until the next handler call on h
 * (handler_serve, handler_error, handler_batch_end), so the backend copies the
 * response out (or finishes sending it) before making one. out->body_key, when
 * set, names the body bytes (the store's SHA-256 prefix of them), so a backend
 * may keep one shared copy of a large body per key. Counts the request.
 * Returns 0, or -ENOSPC if hdr_cap is too small (nothing usable in out), or
 * HANDLER_LIVE (live signing on, handler_set_live) when only a fresh signature
 * answers it: h->live_req holds what to ask revokd-signer, out is untouched and
 * the request is not counted yet (handler_live_answer does).
 */
int handler_serve(struct handler *h, const struct http_req *req, const uint8_t *body,
                  size_t body_len, struct http_out *out);

/*
 * Switches live signing on with policy p (NULL: off, the default). p must
 * outlive h.
 */
void handler_set_live(struct handler *h, const struct handler_live *p);

/*
 * The answer to a request handler_serve() returned HANDLER_LIVE for, once the
 * signer (or livesign's cache, or its refusal) gave status and, for status 0,
 * the OCSPResponse der. req is the same request, parsed again. Live answers are
 * never cached by HTTP caches (no-store): they may carry a nonce, and a
 * pre-signed answer replaces them soon. Counts it. Returns 0 or -ENOSPC.
 */
int handler_live_answer(struct handler *h, const struct http_req *req, uint8_t status,
                        const uint8_t *der, size_t der_len, struct http_out *out);

/*
 * Fills an HTTP error response (status 4xx/5xx with a short text body) for a
 * request the backend refuses itself: a malformed head (req NULL or as left by
 * http_req_parse; status from req->err_status) or a handler_head_check()
 * status. Those always close the connection. Counts it. Returns 0 or -ENOSPC.
 */
int handler_error(struct handler *h, const struct http_req *req, int status, struct http_out *out);

#endif
