/*
 * livesigner — the revokd-signer service (docs/signer.md): the one process,
 * besides the indexer, that holds the OCSP signing keys, answering the
 * responder's live-signing requests (common/signproto.h) on a Unix socket. It
 * trusts nothing in a request but the CertIDs and the nonce: the issuer must be
 * one configured here (its hashes computed from our ca_cert), the status signed
 * is the store's (read-only), and a serial the store does not list gets what the
 * issuer's unknown_serial policy says, never `good`.
 *
 * Ownership: livesigner_init() fills a caller-owned struct from a config the
 * caller keeps alive; livesigner_free() releases keys, store and socket.
 */
#ifndef REVOKD_LIVESIGNER_H
#define REVOKD_LIVESIGNER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ocsp.h"
#include "sign.h"
#include "signproto.h"
#include "store.h"

/* Clients (responder workers) served at once. */
#define LIVESIGNER_CLIENTS 256

enum livesigner_unknown { LS_UNKNOWN_UNAUTHORIZED = 0, LS_UNKNOWN_UNKNOWN, LS_UNKNOWN_REVOKED };

struct livesigner_issuer {
    const struct config_issuer *conf;
    struct signer signer;
    struct ocsp_issuer_hashes hashes;
    int64_t signer_not_after;
    enum livesigner_unknown unknown;
    bool loaded;
};

struct livesigner_stats {
    uint64_t requests, signed_, refused, malformed;
};

struct livesigner {
    const struct config *cfg;
    struct livesigner *owner; /* the one that opened store and socket, or NULL: this one */
    struct store *store;
    struct store_txn txn;
    bool txn_open;
    int lfd;
    size_t n_issuers;
    struct livesigner_issuer iss[CONFIG_MAX_ISSUERS];
    struct livesigner_stats st;
};

/* Loads every issuer's signer, opens the store read-only, binds [signer] socket. */
int livesigner_init(struct livesigner *ls, const struct config *cfg);
/*
 * Another signing thread's state beside owner ([signer] threads): its own
 * copies of the keys and its own read txn, owner's store and listening socket
 * (owner must outlive it). Free it with livesigner_free() before owner.
 */
int livesigner_init_peer(struct livesigner *ls, struct livesigner *owner);
void livesigner_free(struct livesigner *ls);

/* --check: loads every issuer's certificates and signer, then frees them. 0 or -errno. */
int livesigner_check(const struct config *cfg);

/* Serves until *stop is set (a signal handler sets it). 0 or a negative errno. */
int livesigner_run(struct livesigner *ls, volatile sig_atomic_t *stop);

/*
 * Answers one parsed request at time now: fills resp (status, flags, times) and
 * writes the OCSPResponse DER to buf (cap bytes); resp->der points into buf.
 * Exposed for tests. Returns 0 (resp->status says what was answered) or a
 * negative errno for an internal failure (the caller answers internalError).
 */
int livesigner_answer(struct livesigner *ls, const struct signproto_req *req, int64_t now,
                      uint8_t *buf, size_t cap, struct signproto_resp *resp);

#endif
