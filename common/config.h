/*
 * config — the one INI file every revokd program reads (conf/revokd.conf is the
 * documented example). Sections: [store], [log], [indexer], [responder],
 * [crlgen], and one [issuer NAME] per issuing CA. Every key lives in one table in
 * config.c (name, type, default, bounds, doc); parsing, validation, defaults and
 * docs/configuration.md (config_write_doc) all come from that table, so they
 * cannot drift. A bad value stops the program at start with file:line and the
 * key's name in the message.
 *
 * Ownership: config_load() fills a caller-owned struct; config_free() releases
 * its strings.
 */
#ifndef REVOKD_CONFIG_H
#define REVOKD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define CONFIG_MAX_ISSUERS 64
#define CONFIG_WARN_MAX    16  /* warnings kept; later ones are dropped */
#define CONFIG_WARN_LEN    320 /* bytes per warning, NUL included */

struct config_issuer {
    char *name;    /* from the section header [issuer NAME]: [A-Za-z0-9._-], <64 bytes */
    char *ca_cert; /* issuing CA certificate, PEM (required) */
    /* Revocation sources: at least one of index, cert_dir, certmate_dir, crl_file. */
    char *index;          /* OpenSSL CA database, index.txt; NULL: none */
    char *cert_dir;       /* directory of the certificates it issued (PEM or DER); NULL: none */
    char *certmate_dir;   /* CertMate store root (<root>/<usage>/<id>/...); NULL: none */
    char *crl_file;       /* the CA's full CRL (PEM or DER); NULL: none */
    char *delta_crl_file; /* its delta CRL; only with crl_file; NULL: none */
    char *signer_cert;    /* OCSP signer certificate, PEM; default: ca_cert */
    char *signer_key;     /* its private key, PEM (required) */
    char *crl_key;        /* CA private key for CRLs; NULL: no CRL for this issuer */
    char *crl_cert;       /* dedicated CRL-signing certificate for crl_key; NULL: ca_cert */
    char *digest;         /* signature digest: sha256 (default), sha384, sha512 */
    char *crlnumber; /* openssl ca's crlnumber file; NULL: <dir of index>/crlnumber if present */
    bool require_nocheck; /* refuse a delegated signer without id-pkix-ocsp-nocheck */
    /* Live signing (revokd-signer, docs/signer.md): what a serial the store does not
     * list gets ("unauthorized", "unknown" or "revoked", RFC 6960 2.2), and whether a
     * request nonce is ignored (pre-signed answer) or echoed by live signing. */
    char *unknown_serial;
    char *nonce;
    uint32_t crl_shards;     /* CRL partitions (0: one CRL only) */
    uint32_t crl_shard_span; /* serials per range: shard = (serial / span) mod shards, + 1 */
};

struct config {
    char *file; /* the path it was loaded from */
    struct {
        char *path;        /* LMDB environment directory */
        uint64_t map_size; /* bytes */
    } store;
    struct {
        int level; /* enum log_level */
    } log;
    struct {
        uint32_t validity;     /* seconds between thisUpdate and nextUpdate */
        uint32_t refresh;      /* re-sign when less than this is left before nextUpdate */
        uint32_t backdate;     /* thisUpdate = now - backdate (clock skew of clients) */
        uint32_t interval;     /* seconds between syncs when not --once */
        uint32_t batch;        /* certificates per write transaction */
        uint32_t signer_warn;  /* warn this long before a signer or CA certificate expires */
        uint32_t refresh_pct;  /* re-sign once this % of a response's validity has passed */
        uint32_t retention;    /* answer expired certificates this long, then drop them */
        uint32_t sign_threads; /* signing threads; 0: one per CPU */
        char *audit_log;       /* revokctl's audit log; NULL: audit.log beside [store] path */
    } indexer;
    struct {
        char *listen; /* host:port, [v6]:port */
        uint32_t max_conns;
        uint32_t idle_timeout_ms;
        uint32_t send_timeout_ms; /* a queued response must be sent within this */
        uint64_t send_buffer;     /* SO_SNDBUF of client sockets, bytes */
        uint32_t max_age;         /* Cache-Control max-age cap for GET, seconds */
        char *backend;            /* "auto", "io_uring" or "libev" */
        uint32_t workers;         /* event-loop threads; 0: one per CPU */
        char *user;               /* drop to this user after binding; NULL: stay */
        bool status_api;          /* serve /api/v1/status/... */
        bool seccomp;             /* install the sandbox (responder/sandbox.h) before serving */
        /* Hand-off to revokd-signer (docs/signer.md); all per worker except live_rate. */
        uint32_t live_queue;      /* requests waiting for the signer, per worker */
        uint32_t live_rate;       /* live signatures per second, over all workers */
        uint32_t live_timeout_ms; /* a signer answer later than this is tryLater */
        uint32_t live_margin;     /* sign live when less than this is left of a pre-signed one */
        uint32_t live_cache;      /* cached live `unknown` answers per worker; 0: none */
        uint32_t live_cache_ttl;  /* seconds a cached live answer is served */
    } responder;
    struct {
        char *socket;      /* Unix socket revokd-signer listens on; NULL: no live signing */
        uint32_t validity; /* nextUpdate - thisUpdate of a live-signed answer, seconds */
        uint32_t threads;  /* signing threads, each serving its own responder connections */
    } signer;
    struct {
        char *out_dir;              /* where <issuer>.crl and <issuer>.crl.pem are published */
        uint32_t validity;          /* seconds between thisUpdate and nextUpdate */
        uint32_t interval;          /* seconds between runs when not --once */
        bool delta;                 /* issue delta CRLs */
        uint32_t delta_debounce_ms; /* a delta at most this long after a change is logged */
        uint32_t delta_validity;    /* seconds between thisUpdate and nextUpdate of a delta */
        char *url;                  /* base URL out_dir is served at; NULL: no Freshest CRL */
    } crlgen;
    struct {
        bool strict; /* Baseline Requirements limits are errors, not warnings */
    } policy;
    size_t n_issuers;
    struct config_issuer issuers[CONFIG_MAX_ISSUERS];
    /* Values that work but deserve a look ("[indexer] validity: ..."): each program
     * logs them at start (config_log_warnings) and --check prints them. */
    unsigned n_warnings;
    char warnings[CONFIG_WARN_MAX][CONFIG_WARN_LEN];
};

/*
 * Loads and validates path. Returns 0, or -EINVAL/-ENOENT/... with a one-line
 * message in err ("revokd.conf:12: [responder] listen: ...").
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);
/*
 * Same as config_load() for a file already in memory (tests, fuzzing): name is
 * used in messages and relative paths are resolved against its directory. text
 * need not be NUL-terminated; a NUL byte inside it is an error.
 */
int config_load_mem(struct config *c, const char *name, const char *text, size_t len, char *err,
                    size_t errlen);
void config_free(struct config *c);

/* Logs each warning at warn level (after log_init), or prints them to f if f is not NULL. */
void config_log_warnings(const struct config *c, FILE *f);

/* Writes the Markdown reference (docs/configuration.md) generated from the table. */
void config_write_doc(FILE *f);

/* Parses "host:port" / "[v6]:port" into a socket address. Returns 0 or -EINVAL. */
int config_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);

#endif
