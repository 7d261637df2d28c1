/*
 * config — parses the one INI file every revokd program reads. A single static
 * table (config_keys) names every key with its section, type, default, bounds,
 * doc sentence and place in struct config; the parser, the defaults pass, the
 * required-key check, config_free() and the Markdown reference written by
 * config_write_doc() all walk that table, so adding a key is one row and the
 * documentation cannot drift from the code. Parsing is strict on purpose: an
 * unknown section or key, a duplicate, a bad unit or an out-of-range number
 * stops the program at start with "<file>:<line>: [section] key: ..." rather
 * than running with a value the operator did not mean.
 */
#include "config.h"

#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A config file is a few kilobytes; the cap keeps a wrong path (a disk image) harmless. */
#define CONFIG_FILE_MAX (1u << 20)
/* Longest value accepted: PATH_MAX, so every path the kernel could open fits. */
#define CONFIG_VALUE_MAX  4096
#define CONFIG_KEY_MAX    64
#define CONFIG_ISSUER_MAX 63 /* issuer name length; store.h keeps names in 64 bytes */

enum config_sect {
    CONFIG_S_STORE,
    CONFIG_S_LOG,
    CONFIG_S_INDEXER,
    CONFIG_S_RESPONDER,
    CONFIG_S_CRLGEN,
    CONFIG_S_POLICY,
    CONFIG_S_SIGNER,
    CONFIG_S_ISSUER,
    CONFIG_S_COUNT,
};

static const struct {
    const char *name;
    const char *doc;
} config_sects[CONFIG_S_COUNT] = {
    [CONFIG_S_STORE] = {"store", "The LMDB environment shared by all three programs."},
    [CONFIG_S_LOG] = {"log", "Diagnostics written to stderr by every program."},
    [CONFIG_S_INDEXER] = {"indexer",
                          "revokd-indexer: reads each issuer's index.txt into the store and "
                          "pre-signs one OCSP response per certificate; revokctl, the "
                          "operator's command, reads it too."},
    [CONFIG_S_RESPONDER] = {"responder",
                            "revokd-responder: the HTTP OCSP endpoint (RFC 6960, POST and GET)."},
    [CONFIG_S_CRLGEN] = {"crlgen", "revokd-crlgen: signs and publishes one CRL per issuer that "
                                   "has a crl_key."},
    [CONFIG_S_POLICY] = {"policy",
                         "Checks of the other sections against the CA/Browser Forum Baseline "
                         "Requirements."},
    [CONFIG_S_SIGNER] = {"signer",
                         "revokd-signer: holds the OCSP keys and signs the answers no pre-signed "
                         "response covers (docs/signer.md), for the responder, over a Unix "
                         "socket."},
    [CONFIG_S_ISSUER] = {"issuer NAME",
                         "One section per issuing CA; NAME ([A-Za-z0-9._-], 1 to 63 characters, "
                         "unique) names the CA in the store, in logs and in CRL file names."},
};

enum config_type {
    CONFIG_STRING,   /* free text, or one of `choices` */
    CONFIG_PATH,     /* file or directory; relative to the config file's directory */
    CONFIG_UINT,     /* decimal integer -> uint32_t */
    CONFIG_SIZE,     /* bytes with K/M/G/T suffix -> uint64_t */
    CONFIG_DURATION, /* seconds with s/m/h/d suffix -> uint32_t (seconds, or ms if .ms) */
    CONFIG_LOGLEVEL, /* log_level_parse() -> int */
    CONFIG_ADDR,     /* config_parse_addr(), kept as text */
    CONFIG_DIGEST,   /* one of `choices`, kept as text */
    CONFIG_BOOL,     /* yes/no -> bool */
};

static const char *const config_type_names[] = {
    [CONFIG_STRING] = "string", [CONFIG_PATH] = "path",         [CONFIG_UINT] = "integer",
    [CONFIG_SIZE] = "size",     [CONFIG_DURATION] = "duration", [CONFIG_LOGLEVEL] = "log level",
    [CONFIG_ADDR] = "address",  [CONFIG_DIGEST] = "digest",     [CONFIG_BOOL] = "boolean",
};

struct config_key {
    enum config_sect sect;
    const char *name;
    enum config_type type;
    const char *def;     /* built-in default, parsed exactly like a file value; NULL: none */
    uint64_t min, max;   /* UINT, SIZE, DURATION bounds in bytes or seconds, inclusive */
    const char *choices; /* '|'-separated accepted values, or NULL for any */
    const char *inherit; /* unset and no default: copy this key of the same section */
    bool required;       /* must appear in the file (def is NULL) */
    bool ms;             /* DURATION stored in milliseconds */
    size_t off;          /* offset in struct config, or in struct config_issuer for [issuer] */
    const char *doc;     /* one sentence for docs/configuration.md */
};

/*
 * The offset macros check at compile time that the struct member has the C type
 * the key's type writes through, so a table row can never scribble over a field
 * of another size.
 */
#define CONFIG_AT_(st, field, ctype)                                                               \
    (offsetof(st, field) +                                                                         \
     0 * sizeof(struct {                                                                           \
         _Static_assert(__builtin_types_compatible_p(__typeof__(((st *)0)->field), ctype),         \
                        #field " does not have the C type its key type stores");                   \
         int config_unused;                                                                        \
     }))
#define CONFIG_AT(field, ctype)  CONFIG_AT_(struct config, field, ctype)
#define CONFIG_ISS(field, ctype) CONFIG_AT_(struct config_issuer, field, ctype)

#define CONFIG_KIB  ((uint64_t)1 << 10)
#define CONFIG_MIB  ((uint64_t)1 << 20)
#define CONFIG_GIB  ((uint64_t)1 << 30)
#define CONFIG_TIB  ((uint64_t)1 << 40)
#define CONFIG_MIN  60u
#define CONFIG_HOUR 3600u
#define CONFIG_DAY  86400u

/*
 * Every key revokd knows. Order here is the order in docs/configuration.md and in
 * "unknown key" messages. Bounds (.min/.max) are in bytes for sizes and seconds
 * for durations, inclusive.
 */
static const struct config_key config_keys[] = {
    {.sect = CONFIG_S_STORE,
     .name = "path",
     .type = CONFIG_PATH,
     .def = "/var/lib/revokd/store",
     .off = CONFIG_AT(store.path, char *),
     .doc = "Directory of the LMDB environment; the indexer and crlgen write it, the responder "
            "maps it read-only."},
    {.sect = CONFIG_S_STORE,
     .name = "map_size",
     .type = CONFIG_SIZE,
     .def = "64G",
     .min = 16 * CONFIG_MIB,
     .max = 16 * CONFIG_TIB,
     .off = CONFIG_AT(store.map_size, uint64_t),
     .doc = "Largest size the store may grow to; it is address space reserved up front, not disk "
            "used, so set it well above the expected data."},

    {.sect = CONFIG_S_LOG,
     .name = "level",
     .type = CONFIG_LOGLEVEL,
     .def = "info",
     .choices = "error|warn|info|debug",
     .off = CONFIG_AT(log.level, int),
     .doc = "Least severe message that is written."},

    {.sect = CONFIG_S_INDEXER,
     .name = "validity",
     .type = CONFIG_DURATION,
     .def = "4d",
     .min = CONFIG_MIN,
     .max = 366 * CONFIG_DAY,
     .off = CONFIG_AT(indexer.validity, uint32_t),
     .doc = "Time from thisUpdate to nextUpdate in each OCSP response, i.e. how long clients may "
            "cache it."},
    {.sect = CONFIG_S_INDEXER,
     .name = "refresh",
     .type = CONFIG_DURATION,
     .def = "1d",
     .min = 1,
     .max = 366 * CONFIG_DAY,
     .off = CONFIG_AT(indexer.refresh, uint32_t),
     .doc = "A response is re-signed when less than this remains before its nextUpdate; must be "
            "less than validity so a fresh response is not immediately due again."},
    {.sect = CONFIG_S_INDEXER,
     .name = "backdate",
     .type = CONFIG_DURATION,
     .def = "1h",
     .min = 0,
     .max = CONFIG_DAY,
     .off = CONFIG_AT(indexer.backdate, uint32_t),
     .doc = "thisUpdate is set this far in the past so clients whose clocks run behind still "
            "accept new responses."},
    {.sect = CONFIG_S_INDEXER,
     .name = "interval",
     .type = CONFIG_DURATION,
     .def = "1s",
     .min = 1,
     .max = 7 * CONFIG_DAY,
     .off = CONFIG_AT(indexer.interval, uint32_t),
     .doc = "How often each index file is checked when not run with --once, besides inotify "
            "(which picks a change up within milliseconds): the safety net for changes inotify "
            "cannot see, and the clock of response refreshes."},
    {.sect = CONFIG_S_INDEXER,
     .name = "signer_warn",
     .type = CONFIG_DURATION,
     .def = "30d",
     .min = 0,
     .max = 366 * CONFIG_DAY,
     .off = CONFIG_AT(indexer.signer_warn, uint32_t),
     .doc = "Warn this long before the OCSP signer, CA or CRL signer (the CA) certificate "
            "expires: a log line at most hourly and revokd_issuer_cert_expiry_warning in /metrics; "
            "a signer that expires before a response's nextUpdate shortens that nextUpdate."},
    {.sect = CONFIG_S_INDEXER,
     .name = "batch",
     .type = CONFIG_UINT,
     .def = "10000",
     .min = 1,
     .max = 1000000,
     .off = CONFIG_AT(indexer.batch, uint32_t),
     .doc = "Certificates written per store transaction (rounded up to whole signing chunks of "
            "up to 1024 certificates that need work); larger batches sync faster, smaller ones "
            "hold the write lock for less time."},
    {.sect = CONFIG_S_INDEXER,
     .name = "audit_log",
     .type = CONFIG_PATH,
     .off = CONFIG_AT(indexer.audit_log, char *),
     .doc = "File revokctl appends one JSON line to (fsync'd) for every revoke, hold and release, "
            "before and after its store transaction. Unset: audit.log in the directory that holds "
            "the [store] path directory (/var/lib/revokd/audit.log by default), so moving a store "
            "aside keeps it."},
    {.sect = CONFIG_S_INDEXER,
     .name = "refresh_at",
     .type = CONFIG_UINT,
     .def = "50",
     .min = 1,
     .max = 99,
     .off = CONFIG_AT(indexer.refresh_pct, uint32_t),
     .doc = "Percent of a response's validity after which it is re-signed; each certificate gets "
            "its own point between this and `refresh` before nextUpdate (from its serial), so "
            "responses signed together are not all re-signed together."},
    {.sect = CONFIG_S_INDEXER,
     .name = "expired_retention",
     .type = CONFIG_DURATION,
     .def = "365d",
     .min = 0,
     .max = 100 * 366 * CONFIG_DAY,
     .off = CONFIG_AT(indexer.retention, uint32_t),
     .doc = "How long after its notAfter a certificate is still answered (and a revoked one "
            "listed in CRLs); then it is dropped from the store and answered unauthorized."},
    {.sect = CONFIG_S_INDEXER,
     .name = "sign_threads",
     .type = CONFIG_UINT,
     .def = "0",
     .min = 0,
     .max = 256,
     .off = CONFIG_AT(indexer.sign_threads, uint32_t),
     .doc = "Threads that pre-sign responses, each with its own signing context; 0 means one per "
            "CPU the indexer may run on."},

    {.sect = CONFIG_S_RESPONDER,
     .name = "listen",
     .type = CONFIG_ADDR,
     .def = "127.0.0.1:8080",
     .off = CONFIG_AT(responder.listen, char *),
     .doc = "Numeric address and port to accept HTTP on, as 192.0.2.1:8080 or [2001:db8::1]:8080 "
            "(no host names, so start-up never waits on DNS)."},
    {.sect = CONFIG_S_RESPONDER,
     .name = "max_conns",
     .type = CONFIG_UINT,
     .def = "1024",
     .min = 1,
     .max = 1000000,
     .off = CONFIG_AT(responder.max_conns, uint32_t),
     .doc = "Open client connections at most, for the whole process (split evenly over the "
            "workers); further connections wait in the kernel's accept queue."},
    {.sect = CONFIG_S_RESPONDER,
     .name = "idle_timeout",
     .type = CONFIG_DURATION,
     .def = "30s",
     .min = 1,
     .max = CONFIG_HOUR,
     .ms = true,
     .off = CONFIG_AT(responder.idle_timeout_ms, uint32_t),
     .doc = "A connection with no complete request for this long is closed, so idle clients "
            "cannot hold all max_conns slots."},
    {.sect = CONFIG_S_RESPONDER,
     .name = "send_timeout",
     .type = CONFIG_DURATION,
     .def = "60s",
     .min = 1,
     .max = CONFIG_HOUR,
     .ms = true,
     .off = CONFIG_AT(responder.send_timeout_ms, uint32_t),
     .doc = "A response (a large CRL, say) not fully sent this long after it was queued closes "
            "the connection, so clients that read too slowly cannot pin memory."},
    {.sect = CONFIG_S_RESPONDER,
     .name = "send_buffer",
     .type = CONFIG_SIZE,
     .def = "64K",
     .min = 4 * CONFIG_KIB,
     .max = 64 * CONFIG_MIB,
     .off = CONFIG_AT(responder.send_buffer, uint64_t),
     .doc = "SO_SNDBUF of each client socket, bounding the kernel memory a client that does not "
            "read can hold."},
    {.sect = CONFIG_S_RESPONDER,
     .name = "max_age",
     .type = CONFIG_DURATION,
     .def = "1h",
     .min = 0,
     .max = 7 * CONFIG_DAY,
     .off = CONFIG_AT(responder.max_age, uint32_t),
     .doc = "Largest Cache-Control max-age sent with GET responses, so HTTP caches in front of "
            "the responder re-fetch at least this often."},
    {.sect = CONFIG_S_RESPONDER,
     .name = "backend",
     .type = CONFIG_STRING,
     .def = "auto",
     .choices = "auto|io_uring|libev",
     .off = CONFIG_AT(responder.backend, char *),
     .doc = "Event loop: io_uring, libev, or auto (io_uring where the kernel allows it, else "
            "libev); the log and /metrics say which runs."},
    {.sect = CONFIG_S_RESPONDER,
     .name = "workers",
     .type = CONFIG_UINT,
     .def = "0",
     .min = 0,
     .max = 256,
     .off = CONFIG_AT(responder.workers, uint32_t),
     .doc = "Event-loop threads, each with its own listener (SO_REUSEPORT); 0 means one per "
            "CPU the process may run on."},
    {.sect = CONFIG_S_RESPONDER,
     .name = "user",
     .type = CONFIG_STRING,
     .off = CONFIG_AT(responder.user, char *),
     .doc = "If set, the user (name) the responder switches to after binding its port, with "
            "that user's group and no supplementary groups."},
    {.sect = CONFIG_S_RESPONDER,
     .name = "seccomp",
     .type = CONFIG_BOOL,
     .def = "yes",
     .off = CONFIG_AT(responder.seccomp, bool),
     .doc = "Once set up, confine every thread to the system calls serving needs (a seccomp "
            "filter per backend; any other call fails with EPERM). See "
            "docs/operations-guide.md, \"Sandbox\"."},
    {.sect = CONFIG_S_RESPONDER,
     .name = "status_api",
     .type = CONFIG_BOOL,
     .def = "yes",
     .off = CONFIG_AT(responder.status_api, bool),
     .doc = "Serve GET /api/v1/status/ISSUER/SERIAL-HEX, a certificate's status as JSON."},
    {.sect = CONFIG_S_RESPONDER,
     .name = "live_queue",
     .type = CONFIG_UINT,
     .def = "256",
     .min = 1,
     .max = 65536,
     .off = CONFIG_AT(responder.live_queue, uint32_t),
     .doc = "Requests each worker lets wait for revokd-signer; past it the answer is tryLater."},
    {.sect = CONFIG_S_RESPONDER,
     .name = "live_rate",
     .type = CONFIG_UINT,
     .def = "2000",
     .min = 1,
     .max = 10000000,
     .off = CONFIG_AT(responder.live_rate, uint32_t),
     .doc = "Live signatures per second asked of revokd-signer, over all workers (a token "
            "bucket, one second deep); past it the answer is tryLater."},
    {.sect = CONFIG_S_RESPONDER,
     .name = "live_timeout",
     .type = CONFIG_DURATION,
     .def = "2s",
     .min = 1,
     .max = 60,
     .ms = true,
     .off = CONFIG_AT(responder.live_timeout_ms, uint32_t),
     .doc = "A live answer revokd-signer has not given within this is tryLater."},
    {.sect = CONFIG_S_RESPONDER,
     .name = "live_margin",
     .type = CONFIG_DURATION,
     .def = "60s",
     .min = 0,
     .max = CONFIG_DAY,
     .off = CONFIG_AT(responder.live_margin, uint32_t),
     .doc = "A pre-signed response with less than this left before its nextUpdate (or none at "
            "all, for a listed certificate) is signed live instead, when [signer] socket is "
            "set."},
    {.sect = CONFIG_S_RESPONDER,
     .name = "live_cache",
     .type = CONFIG_UINT,
     .def = "4096",
     .min = 0,
     .max = 1048576,
     .off = CONFIG_AT(responder.live_cache, uint32_t),
     .doc = "Live-signed answers for serials the store does not list that each worker keeps, "
            "keyed by CertID, so a flood of random serials costs no more signatures; 0: none."},
    {.sect = CONFIG_S_RESPONDER,
     .name = "live_cache_ttl",
     .type = CONFIG_DURATION,
     .def = "60s",
     .min = 1,
     .max = CONFIG_HOUR,
     .off = CONFIG_AT(responder.live_cache_ttl, uint32_t),
     .doc = "How long a cached live answer is served before it is signed afresh."},

    {.sect = CONFIG_S_CRLGEN,
     .name = "out_dir",
     .type = CONFIG_PATH,
     .def = "/var/lib/revokd/crl",
     .off = CONFIG_AT(crlgen.out_dir, char *),
     .doc = "Directory where NAME.crl (DER) and NAME.crl.pem are published for each issuer."},
    {.sect = CONFIG_S_CRLGEN,
     .name = "validity",
     .type = CONFIG_DURATION,
     .def = "7d",
     .min = CONFIG_HOUR,
     .max = 366 * CONFIG_DAY,
     .off = CONFIG_AT(crlgen.validity, uint32_t),
     .doc = "Time from thisUpdate to nextUpdate in each CRL."},
    {.sect = CONFIG_S_CRLGEN,
     .name = "interval",
     .type = CONFIG_DURATION,
     .def = "1h",
     .min = 1,
     .max = 7 * CONFIG_DAY,
     .off = CONFIG_AT(crlgen.interval, uint32_t),
     .doc = "Pause between two CRL runs when not run with --once; keep it well below validity."},
    {.sect = CONFIG_S_CRLGEN,
     .name = "delta",
     .type = CONFIG_BOOL,
     .def = "yes",
     .off = CONFIG_AT(crlgen.delta, bool),
     .doc = "Issue a delta CRL (RFC 5280 5.2.4) after every full CRL and after every change to "
            "an issuer's certificates, published as delta/NAME.crl and delta/NAME.crl.pem."},
    {.sect = CONFIG_S_CRLGEN,
     .name = "delta_debounce",
     .type = CONFIG_DURATION,
     .def = "5s",
     .min = 1,
     .max = CONFIG_HOUR,
     .ms = true,
     .off = CONFIG_AT(crlgen.delta_debounce_ms, uint32_t),
     .doc = "A new delta CRL is published at most this long after a change reaches the store's "
            "change log; changes within it share one delta."},
    {.sect = CONFIG_S_CRLGEN,
     .name = "delta_validity",
     .type = CONFIG_DURATION,
     .def = "1h",
     .min = 60,
     .max = 7 * CONFIG_DAY,
     .off = CONFIG_AT(crlgen.delta_validity, uint32_t),
     .doc = "Time from thisUpdate to nextUpdate in each delta CRL; a delta is reissued when "
            "half of it has passed, changes or not."},
    {.sect = CONFIG_S_CRLGEN,
     .name = "url",
     .type = CONFIG_STRING,
     .off = CONFIG_AT(crlgen.url, char *),
     .doc = "Base URL at which out_dir is served (the responder's http://HOST:PORT/crl, say); "
            "full and delta CRLs then name URL/delta/NAME.crl in a Freshest CRL extension, "
            "which relying parties need to find the delta. Unset: no Freshest CRL."},

    {.sect = CONFIG_S_POLICY,
     .name = "strict",
     .type = CONFIG_BOOL,
     .def = "no",
     .off = CONFIG_AT(policy.strict, bool),
     .doc =
         "Refuse to start, instead of warning, when a value is outside the Baseline "
         "Requirements: OCSP validity under 8 hours or over 10 days, CRL validity over 10 days."},

    {.sect = CONFIG_S_SIGNER,
     .name = "socket",
     .type = CONFIG_PATH,
     .off = CONFIG_AT(signer.socket, char *),
     .doc = "Unix socket revokd-signer listens on and the responder connects to. Unset: no live "
            "signing, and every request no pre-signed response answers is unauthorized (or "
            "tryLater when stale), as without a signer."},
    {.sect = CONFIG_S_SIGNER,
     .name = "validity",
     .type = CONFIG_DURATION,
     .def = "1h",
     .min = CONFIG_MIN,
     .max = 7 * CONFIG_DAY,
     .off = CONFIG_AT(signer.validity, uint32_t),
     .doc = "Time from thisUpdate to nextUpdate in a live-signed answer (never past the "
            "signer certificate's notAfter)."},
    {.sect = CONFIG_S_SIGNER,
     .name = "threads",
     .type = CONFIG_UINT,
     .def = "1",
     .min = 1,
     .max = 64,
     .off = CONFIG_AT(signer.threads, uint32_t),
     .doc = "Signing threads of revokd-signer, each with its own copy of the keys, serving the "
            "responder connections it accepted (one per responder worker): give it as many as "
            "the cores it may use, and the responder at least as many workers."},

    {.sect = CONFIG_S_ISSUER,
     .name = "ca_cert",
     .type = CONFIG_PATH,
     .required = true,
     .off = CONFIG_ISS(ca_cert, char *),
     .doc = "The issuing CA's certificate (PEM)."},
    {.sect = CONFIG_S_ISSUER,
     .name = "index",
     .type = CONFIG_PATH,
     .off = CONFIG_ISS(index, char *),
     .doc = "Source: the CA's OpenSSL database (index.txt from `openssl ca` or easy-rsa): status, "
            "reason and expiry of every certificate it issued. Every issuer needs at least one "
            "of index, cert_dir, certmate_dir, crl_file."},
    {.sect = CONFIG_S_ISSUER,
     .name = "cert_dir",
     .type = CONFIG_PATH,
     .off = CONFIG_ISS(cert_dir, char *),
     .doc = "Source: a directory holding every certificate the CA issued, one PEM or DER file "
            "each (e.g. `openssl ca`'s newcerts/); with it `good` is answered only for serials "
            "found there, and expiry is known. Certificates whose signature the CA key does not "
            "verify are ignored."},
    {.sect = CONFIG_S_ISSUER,
     .name = "certmate_dir",
     .type = CONFIG_PATH,
     .off = CONFIG_ISS(certmate_dir, char *),
     .doc = "Source: a CertMate client certificate store (its data/certs/client): "
            "<usage>/<id>/cert.crt with metadata.json, whose revocation block gives the status; "
            "followed as files appear and change."},
    {.sect = CONFIG_S_ISSUER,
     .name = "crl_file",
     .type = CONFIG_PATH,
     .off = CONFIG_ISS(crl_file, char *),
     .doc = "Source: the CA's full CRL (PEM or DER), for a CA whose only export is a CRL. It "
            "must be signed by ca_cert's key and current (nextUpdate in the future), or it is "
            "rejected whole and the last good state kept."},
    {.sect = CONFIG_S_ISSUER,
     .name = "delta_crl_file",
     .type = CONFIG_PATH,
     .off = CONFIG_ISS(delta_crl_file, char *),
     .doc = "The CA's delta CRL (PEM or DER), applied over crl_file; its Delta CRL Indicator "
            "must be at most crl_file's CRL Number and its own number above it. Needs "
            "crl_file."},
    {.sect = CONFIG_S_ISSUER,
     .name = "signer_cert",
     .type = CONFIG_PATH,
     .inherit = "ca_cert",
     .off = CONFIG_ISS(signer_cert, char *),
     .doc = "Certificate (PEM) that signs OCSP responses: the CA itself or a delegated OCSP "
            "signer it issued."},
    {.sect = CONFIG_S_ISSUER,
     .name = "signer_key",
     .type = CONFIG_PATH,
     .required = true,
     .off = CONFIG_ISS(signer_key, char *),
     .doc = "Private key (PEM) of signer_cert."},
    {.sect = CONFIG_S_ISSUER,
     .name = "crl_key",
     .type = CONFIG_PATH,
     .off = CONFIG_ISS(crl_key, char *),
     .doc = "The CA's private key (PEM) for signing CRLs; without it crlgen skips this issuer."},
    {.sect = CONFIG_S_ISSUER,
     .name = "crl_cert",
     .type = CONFIG_PATH,
     .off = CONFIG_ISS(crl_cert, char *),
     .doc = "Certificate (PEM) of crl_key when that is a dedicated CRL-signing key rather than the "
            "CA's: issued by ca_cert, with the CA's subject name and keyUsage cRLSign, or crlgen "
            "refuses it (naming crl_cert). The CRLs' Authority Key Identifier then names this key. "
            "Unset: crl_key is the CA's key. Relying parties need extended CRL support for it "
            "(docs/operations.md)."},
    {.sect = CONFIG_S_ISSUER,
     .name = "crlnumber",
     .type = CONFIG_PATH,
     .off = CONFIG_ISS(crlnumber, char *),
     .doc = "The CA's `openssl ca` crlnumber file; CRL Numbers are issued above it. Unset: the "
            "file crlnumber beside index, if it exists (none without index)."},
    {.sect = CONFIG_S_ISSUER,
     .name = "crl_shards",
     .type = CONFIG_UINT,
     .def = "0",
     .min = 0,
     .max = 256,
     .off = CONFIG_ISS(crl_shards, uint32_t),
     .doc = "Partition this issuer's CRL into this many shards (0: off) besides the whole CRL: "
            "shard K (1..N) lists the serials whose range number (serial / crl_shard_span) "
            "mod N is K - 1, carries a critical Issuing Distribution Point naming its URL, and "
            "has its own delta. Needs [crlgen] url."},
    {.sect = CONFIG_S_ISSUER,
     .name = "crl_shard_span",
     .type = CONFIG_UINT,
     .def = "4096",
     .min = 1,
     .max = 1u << 30,
     .off = CONFIG_ISS(crl_shard_span, uint32_t),
     .doc = "Serials per range when crl_shards is set: consecutive serials of one range share a "
            "shard, and ranges go round the shards, so a CA can compute each certificate's CRL "
            "Distribution Point from the next serial before it issues."},
    {.sect = CONFIG_S_ISSUER,
     .name = "require_nocheck",
     .type = CONFIG_BOOL,
     .def = "yes",
     .off = CONFIG_ISS(require_nocheck, bool),
     .doc = "Refuse a delegated signer_cert without the id-pkix-ocsp-nocheck extension "
            "(Baseline Requirements 7.1.2.8); `no` signs with it anyway, with a warning."},
    {.sect = CONFIG_S_ISSUER,
     .name = "digest",
     .type = CONFIG_DIGEST,
     .def = "sha256",
     .choices = "sha256|sha384|sha512",
     .off = CONFIG_ISS(digest, char *),
     .doc = "Hash used in OCSP response and CRL signatures."},
    {.sect = CONFIG_S_ISSUER,
     .name = "unknown_serial",
     .type = CONFIG_STRING,
     .def = "unknown",
     .choices = "unauthorized|unknown|revoked",
     .off = CONFIG_ISS(unknown_serial, char *),
     .doc = "With [signer] socket set, what a serial of this CA that the store does not list "
            "gets: a live-signed `unknown` (RFC 6960), the RFC 6960 2.2 `revoked` form "
            "(certificateHold, 1970-01-01, extended-revoke extension), or `unauthorized` "
            "unsigned. Never `good`."},
    {.sect = CONFIG_S_ISSUER,
     .name = "nonce",
     .type = CONFIG_STRING,
     .def = "ignore",
     .choices = "ignore|echo",
     .off = CONFIG_ISS(nonce, char *),
     .doc = "A request nonce (RFC 9654, 1 to 128 octets): `ignore` serves the pre-signed "
            "answer without it (RFC 5019), `echo` signs live (with [signer] socket) and returns "
            "it."},
};

#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/* Parser state; lives on the stack of one config_load call, so no global state. */
struct config_parser {
    struct config *c;
    const char *name; /* file name for messages */
    size_t dir_len;   /* relative paths are joined to name[0..dir_len); 0: kept as is */
    char *err;
    size_t errlen;
    enum config_sect sect;
    bool in_sect;
    struct config_issuer *iss; /* current [issuer] section */
    bool sect_seen[CONFIG_S_COUNT];
    /* Line each key was set on (0: unset): duplicates cite the first line, and the
     * defaults and cross-check passes know which keys came from the file. */
    unsigned set_line[CONFIG_NKEYS];
    unsigned iss_set_line[CONFIG_MAX_ISSUERS][CONFIG_NKEYS];
    unsigned iss_line[CONFIG_MAX_ISSUERS];
};

/* ---- messages ---- */

__attribute__((format(printf, 3, 4))) static int config_err(struct config_parser *p, unsigned line,
                                                            const char *fmt, ...)
{
    if (!p->err || p->errlen == 0)
        return -EINVAL;
    int n = line ? snprintf(p->err, p->errlen, "%s:%u: ", p->name, line)
                 : snprintf(p->err, p->errlen, "%s: ", p->name);
    if (n >= 0 && (size_t)n < p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* "[store] map_size" or "[issuer ca1] index": every key error names both. */
__attribute__((format(printf, 5, 6))) static int
config_key_err(struct config_parser *p, unsigned line, const struct config_key *k,
               const struct config_issuer *iss, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (k->sect == CONFIG_S_ISSUER)
        return config_err(p, line, "[issuer %s] %s: %s", iss ? iss->name : "?", k->name, what);
    return config_err(p, line, "[%s] %s: %s", config_sects[k->sect].name, k->name, what);
}

/* ---- values ---- */

static char *config_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Decimal digits only: no sign, no spaces, no hex, so "-1" cannot wrap to a huge value. */
static int config_parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* A number and an optional one-letter unit from units[] (multipliers in mult[]). */
static int config_parse_unit(const char *s, const char *units, const uint64_t *mult, uint64_t *out)
{
    size_t n = strlen(s);
    uint64_t m = 1, v;
    if (n > 0 && (s[n - 1] < '0' || s[n - 1] > '9')) {
        const char *u = strchr(units, s[n - 1]);
        if (!u)
            return -EINVAL;
        m = mult[u - units];
        n--;
    }
    int r = config_parse_u64(s, n, &v);
    if (r < 0)
        return r;
    if (v > UINT64_MAX / m)
        return -ERANGE;
    *out = v * m;
    return 0;
}

static int config_parse_size(const char *s, uint64_t *out)
{
    static const uint64_t mult[] = {CONFIG_KIB, CONFIG_MIB, CONFIG_GIB, CONFIG_TIB,
                                    CONFIG_KIB, CONFIG_MIB, CONFIG_GIB, CONFIG_TIB};
    return config_parse_unit(s, "KMGTkmgt", mult, out);
}

/* Lower case only: "1M" would read as a month to some and a minute to others. */
static int config_parse_duration(const char *s, uint64_t *out)
{
    static const uint64_t mult[] = {1, CONFIG_MIN, CONFIG_HOUR, CONFIG_DAY};
    return config_parse_unit(s, "smhd", mult, out);
}

/* Shortest exact spelling: 68719476736 -> "64G", 345600 -> "4d", so docs match the defaults. */
static void config_fmt_unit(char *buf, size_t len, enum config_type type, uint64_t v)
{
    static const char size_u[] = "TGMK";
    static const uint64_t size_m[] = {CONFIG_TIB, CONFIG_GIB, CONFIG_MIB, CONFIG_KIB};
    static const char dur_u[] = "dhms";
    static const uint64_t dur_m[] = {CONFIG_DAY, CONFIG_HOUR, CONFIG_MIN, 1};
    const char *u = type == CONFIG_SIZE ? size_u : type == CONFIG_DURATION ? dur_u : "";
    const uint64_t *m = type == CONFIG_SIZE ? size_m : dur_m;
    for (size_t i = 0; u[i] && v != 0; i++) {
        if (v % m[i] == 0) {
            snprintf(buf, len, "%llu%c", (unsigned long long)(v / m[i]), u[i]);
            return;
        }
    }
    snprintf(buf, len, "%llu", (unsigned long long)v);
}

static void config_fmt_bounds(char *buf, size_t len, const struct config_key *k)
{
    char lo[32], hi[32];
    config_fmt_unit(lo, sizeof(lo), k->type, k->min);
    config_fmt_unit(hi, sizeof(hi), k->type, k->max);
    snprintf(buf, len, "%s..%s", lo, hi);
}

/* "a|b|c" contains s as a whole element. */
static bool config_in_choices(const char *choices, const char *s)
{
    size_t n = strlen(s);
    for (const char *c = choices; c;) {
        const char *bar = strchr(c, '|');
        size_t cn = bar ? (size_t)(bar - c) : strlen(c);
        if (cn == n && memcmp(c, s, n) == 0)
            return true;
        c = bar ? bar + 1 : NULL;
    }
    return false;
}

/* "a|b|c" -> "a, b, c" (for messages). */
static void config_fmt_choices(char *buf, size_t len, const char *choices, const char *quote)
{
    size_t o = 0;
    buf[0] = '\0';
    for (const char *c = choices; c && o < len;) {
        const char *bar = strchr(c, '|');
        int cn = bar ? (int)(bar - c) : (int)strlen(c);
        int w = snprintf(buf + o, len - o, "%s%s%.*s%s", o ? ", " : "", quote, cn, c, quote);
        if (w < 0)
            break;
        o += (size_t)w;
        c = bar ? bar + 1 : NULL;
    }
}

int config_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[INET6_ADDRSTRLEN];
    const char *port;
    size_t hn;
    bool v6 = s[0] == '[';
    if (v6) {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        hn = (size_t)(close - (s + 1));
        port = close + 2;
        s++;
    } else {
        /* An unbracketed IPv6 address has more than one colon; reject it rather than guess. */
        const char *colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)))
            return -EINVAL;
        hn = (size_t)(colon - s);
        port = colon + 1;
    }
    if (hn == 0 || hn >= sizeof(host))
        return -EINVAL;
    memcpy(host, s, hn);
    host[hn] = '\0';

    uint64_t pv;
    if (strlen(port) > 5 || config_parse_u64(port, strlen(port), &pv) < 0 || pv < 1 || pv > 65535)
        return -EINVAL;

    struct sockaddr_storage tmp;
    memset(&tmp, 0, sizeof(tmp));
    socklen_t l;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&tmp;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return -EINVAL;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)pv);
        l = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&tmp;
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return -EINVAL;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)pv);
        l = sizeof(*a);
    }
    if (ss)
        *ss = tmp;
    if (len)
        *len = l;
    return 0;
}

/* Joins a relative path to the config file's directory, so a config works from any cwd. */
static char *config_resolve(const struct config_parser *p, const char *v)
{
    if (v[0] == '/' || p->dir_len == 0)
        return strdup(v);
    size_t vn = strlen(v);
    char *r = malloc(p->dir_len + 1 + vn + 1);
    if (!r)
        return NULL;
    memcpy(r, p->name, p->dir_len);
    /* dir_len includes the slash only for the root directory ("/x.conf"). */
    size_t o = p->dir_len;
    if (r[o - 1] != '/')
        r[o++] = '/';
    memcpy(r + o, v, vn + 1);
    return r;
}

static void *config_field(struct config *c, struct config_issuer *iss, const struct config_key *k)
{
    return (char *)(k->sect == CONFIG_S_ISSUER ? (void *)iss : (void *)c) + k->off;
}

static bool config_is_text(enum config_type t)
{
    return t == CONFIG_STRING || t == CONFIG_PATH || t == CONFIG_ADDR || t == CONFIG_DIGEST;
}

/* Parses, checks and stores one value (from the file or a default) of key k. */
static int config_set(struct config_parser *p, unsigned line, const struct config_key *k,
                      struct config_issuer *iss, const char *v)
{
    void *field = config_field(p->c, iss, k);
    char want[160];
    uint64_t n;
    int r;

    if (v[0] == '\0')
        return config_key_err(p, line, k, iss, "empty value (expected a %s)",
                              config_type_names[k->type]);
    switch (k->type) {
    case CONFIG_UINT:
    case CONFIG_SIZE:
    case CONFIG_DURATION:
        if (k->type == CONFIG_UINT)
            r = config_parse_u64(v, strlen(v), &n);
        else if (k->type == CONFIG_SIZE)
            r = config_parse_size(v, &n);
        else
            r = config_parse_duration(v, &n);
        if (r == -EINVAL) {
            const char *hint =
                k->type == CONFIG_UINT ? "a decimal integer"
                : k->type == CONFIG_SIZE
                    ? "bytes as a whole number with an optional K, M, G or T suffix, e.g. 512M"
                    : "seconds as a whole number with an optional s, m, h or d suffix, e.g. 15m";
            return config_key_err(p, line, k, iss, "\"%.64s\" is not a %s (expected %s)", v,
                                  config_type_names[k->type], hint);
        }
        config_fmt_bounds(want, sizeof(want), k);
        if (r == -ERANGE || n < k->min || n > k->max)
            return config_key_err(p, line, k, iss, "%.64s is out of range (expected %s)", v, want);
        if (k->type == CONFIG_SIZE)
            *(uint64_t *)field = n;
        else
            *(uint32_t *)field = (uint32_t)(k->ms ? n * 1000 : n);
        return 0;
    case CONFIG_LOGLEVEL: {
        enum log_level lv;
        if (log_level_parse(v, &lv) < 0) {
            config_fmt_choices(want, sizeof(want), k->choices, "");
            return config_key_err(p, line, k, iss,
                                  "\"%.64s\" is not a log level (expected one of: %s)", v, want);
        }
        *(int *)field = (int)lv;
        return 0;
    }
    case CONFIG_ADDR:
        if (config_parse_addr(v, NULL, NULL) < 0)
            return config_key_err(p, line, k, iss,
                                  "\"%.64s\" is not a numeric address and port (expected "
                                  "IPv4:port or [IPv6]:port, port 1..65535)",
                                  v);
        break;
    case CONFIG_STRING:
    case CONFIG_DIGEST:
        if (k->choices && !config_in_choices(k->choices, v)) {
            config_fmt_choices(want, sizeof(want), k->choices, "");
            return config_key_err(p, line, k, iss,
                                  "\"%.64s\" is not supported (expected one of: %s)", v, want);
        }
        break;
    case CONFIG_PATH:
        break;
    case CONFIG_BOOL: {
        static const char *const yes[] = {"yes", "true", "on", "1"};
        static const char *const no[] = {"no", "false", "off", "0"};
        for (size_t i = 0; i < 4; i++) {
            if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
                *(bool *)field = strcmp(v, yes[i]) == 0;
                return 0;
            }
        }
        return config_key_err(p, line, k, iss, "\"%.64s\" is not a boolean (expected yes or no)",
                              v);
    }
    }

    char *s = k->type == CONFIG_PATH ? config_resolve(p, v) : strdup(v);
    if (!s) {
        config_key_err(p, line, k, iss, "out of memory");
        return -ENOMEM;
    }
    char **slot = field;
    free(*slot);
    *slot = s;
    return 0;
}

/* ---- lines ---- */

static bool config_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

static void config_trim(const char **s, const char **e)
{
    while (*s < *e && config_space(**s))
        (*s)++;
    while (*e > *s && config_space((*e)[-1]))
        (*e)--;
}

static bool config_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > CONFIG_ISSUER_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* "[name]" or "[issuer NAME]"; s..e is the trimmed line including the brackets. */
static int config_section(struct config_parser *p, unsigned line, const char *s, const char *e)
{
    if (e[-1] != ']')
        return config_err(p, line, "\"%.*s\": malformed section header (expected [name])",
                          (int)(e - s > 64 ? 64 : e - s), s);
    const char *ns = s + 1, *ne = e - 1;
    config_trim(&ns, &ne);
    int nn = (int)(ne - ns > 64 ? 64 : ne - ns);

    if (ne - ns >= 6 && memcmp(ns, "issuer", 6) == 0 && (ne - ns == 6 || config_space(ns[6]))) {
        const char *is = ns + 6, *ie = ne;
        config_trim(&is, &ie);
        if (!config_name_ok(is, (size_t)(ie - is)))
            return config_err(p, line,
                              "[%.*s]: bad issuer name (expected [issuer NAME], NAME of 1 to 63 "
                              "characters from A-Z a-z 0-9 . _ -)",
                              nn, ns);
        for (size_t i = 0; i < p->c->n_issuers; i++) {
            if (strlen(p->c->issuers[i].name) == (size_t)(ie - is) &&
                memcmp(p->c->issuers[i].name, is, (size_t)(ie - is)) == 0)
                return config_err(p, line,
                                  "[issuer %.*s]: duplicate issuer (first defined on line %u)",
                                  (int)(ie - is), is, p->iss_line[i]);
        }
        if (p->c->n_issuers == CONFIG_MAX_ISSUERS)
            return config_err(p, line, "[issuer %.*s]: too many issuers (expected at most %d)",
                              (int)(ie - is), is, CONFIG_MAX_ISSUERS);
        struct config_issuer *iss = &p->c->issuers[p->c->n_issuers];
        iss->name = config_strndup(is, (size_t)(ie - is));
        if (!iss->name) {
            config_err(p, line, "[issuer %.*s]: out of memory", (int)(ie - is), is);
            return -ENOMEM;
        }
        p->iss_line[p->c->n_issuers] = line;
        p->c->n_issuers++;
        p->iss = iss;
        p->sect = CONFIG_S_ISSUER;
        p->in_sect = true;
        return 0;
    }
    for (int i = 0; i < CONFIG_S_ISSUER; i++) {
        if (strlen(config_sects[i].name) == (size_t)(ne - ns) &&
            memcmp(config_sects[i].name, ns, (size_t)(ne - ns)) == 0) {
            /* One place per setting: a second [store] would hide where a value came from. */
            if (p->sect_seen[i])
                return config_err(p, line, "[%s]: section appears twice (expected each once)",
                                  config_sects[i].name);
            p->sect_seen[i] = true;
            p->sect = (enum config_sect)i;
            p->in_sect = true;
            p->iss = NULL;
            return 0;
        }
    }
    return config_err(
        p, line,
        "[%.*s]: unknown section (expected store, log, indexer, responder, crlgen, policy "
        "or issuer NAME)",
        nn, ns);
}

static unsigned *config_line_slot(struct config_parser *p, const struct config_issuer *iss,
                                  size_t ki)
{
    if (config_keys[ki].sect == CONFIG_S_ISSUER)
        return &p->iss_set_line[iss - p->c->issuers][ki];
    return &p->set_line[ki];
}

/* Lists the keys of the current section for an "unknown key" message. */
static void config_fmt_keys(char *buf, size_t len, enum config_sect sect)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < CONFIG_NKEYS && o < len; i++) {
        if (config_keys[i].sect != sect)
            continue;
        int w = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", config_keys[i].name);
        if (w < 0)
            break;
        o += (size_t)w;
    }
}

static int config_keyval(struct config_parser *p, unsigned line, const char *s, const char *e)
{
    const char *eq = memchr(s, '=', (size_t)(e - s));
    if (!eq)
        return config_err(p, line, "\"%.*s\": not a setting (expected key = value)",
                          (int)(e - s > 64 ? 64 : e - s), s);
    const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
    config_trim(&ks, &ke);
    config_trim(&vs, &ve);
    int kn = (int)(ke - ks > 64 ? 64 : ke - ks);
    if (kn == 0)
        return config_err(p, line, "\"%.*s\": missing key name (expected key = value)",
                          (int)(e - s > 64 ? 64 : e - s), s);
    if (!p->in_sect)
        return config_err(p, line,
                          "%.*s: setting outside any section (expected a [section] "
                          "line first)",
                          kn, ks);

    const char *sect_label = p->sect == CONFIG_S_ISSUER ? "issuer " : config_sects[p->sect].name;
    const char *iss_name = p->sect == CONFIG_S_ISSUER ? p->iss->name : "";
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        const struct config_key *k = &config_keys[i];
        if (k->sect != p->sect || strlen(k->name) != (size_t)(ke - ks) ||
            memcmp(k->name, ks, (size_t)(ke - ks)) != 0)
            continue;
        unsigned *slot = config_line_slot(p, p->iss, i);
        if (*slot)
            return config_key_err(p, line, k, p->iss, "duplicate key (first set on line %u)",
                                  *slot);
        if (ve - vs >= CONFIG_VALUE_MAX)
            return config_key_err(p, line, k, p->iss, "value too long (expected at most %d bytes)",
                                  CONFIG_VALUE_MAX - 1);
        char v[CONFIG_VALUE_MAX];
        memcpy(v, vs, (size_t)(ve - vs));
        v[ve - vs] = '\0';
        int r = config_set(p, line, k, p->iss, v);
        if (r < 0)
            return r;
        *slot = line;
        return 0;
    }
    char keys[256];
    config_fmt_keys(keys, sizeof(keys), p->sect);
    return config_err(p, line, "[%s%s] %.*s: unknown key (expected one of: %s)", sect_label,
                      iss_name, kn, ks, keys);
}

/* ---- whole file ---- */

/* Built-in defaults, then inherited values, then required keys, for one section instance. */
static int config_defaults(struct config_parser *p, struct config_issuer *iss, bool issuer)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < CONFIG_NKEYS; i++) {
            const struct config_key *k = &config_keys[i];
            if ((k->sect == CONFIG_S_ISSUER) != issuer || *config_line_slot(p, iss, i))
                continue;
            if (pass == 0 && k->def) {
                int r = config_set(p, 0, k, iss, k->def);
                if (r < 0)
                    return r;
            } else if (pass == 0 && k->required) {
                return config_key_err(p, 0, k, iss, "required key missing");
            } else if (pass == 1 && k->inherit) {
                /* Inherits run after pass 0 so the source already holds its final value. */
                for (size_t j = 0; j < CONFIG_NKEYS; j++) {
                    const struct config_key *src = &config_keys[j];
                    if (src->sect != k->sect || strcmp(src->name, k->inherit) != 0)
                        continue;
                    char *const *from = config_field(p->c, iss, src);
                    char **to = config_field(p->c, iss, k);
                    if (*from) {
                        free(*to);
                        *to = strdup(*from);
                        if (!*to) {
                            config_key_err(p, 0, k, iss, "out of memory");
                            return -ENOMEM;
                        }
                    }
                }
            }
        }
    }
    return 0;
}

static size_t config_key_index(enum config_sect sect, const char *name)
{
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        if (config_keys[i].sect == sect && strcmp(config_keys[i].name, name) == 0)
            return i;
    }
    return 0; /* not reached: every caller names a key of the table */
}

/*
 * Reports a relation between two keys that does not hold. The key the operator
 * wrote is blamed (a, if both or neither were written), so the line number points
 * at the edit; msg says what would go wrong.
 */
__attribute__((format(printf, 4, 5))) static int
config_relation_err(struct config_parser *p, size_t a, size_t b, const char *fmt, ...)
{
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    size_t k = (p->set_line[a] || !p->set_line[b]) ? a : b;
    return config_key_err(p, p->set_line[k], &config_keys[k], NULL, "%s", what);
}

/* Adds a warning (config.h: the programs log them at start; --check prints them). */
__attribute__((format(printf, 2, 3))) static void config_warn(struct config_parser *p,
                                                              const char *fmt, ...)
{
    struct config *c = p->c;
    if (c->n_warnings >= CONFIG_WARN_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->warnings[c->n_warnings++], CONFIG_WARN_LEN, fmt, ap);
    va_end(ap);
}

/*
 * A Baseline Requirements limit: a warning, or an error under [policy] strict.
 * Returns 0 or the error.
 */
__attribute__((format(printf, 3, 4))) static int config_br_limit(struct config_parser *p, size_t k,
                                                                 const char *fmt, ...)
{
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (p->c->policy.strict)
        return config_key_err(p, p->set_line[k], &config_keys[k], NULL,
                              "%s ([policy] strict = yes)", what);
    config_warn(p, "[%s] %s: %s", config_sects[config_keys[k].sect].name, config_keys[k].name,
                what);
    return 0;
}

/*
 * Relations between keys that no single bound can express: configurations that
 * cannot work are refused at start (each response born expired or due for
 * re-signing at once, a CRL that expires before the next replaces it), and values
 * outside the CA/Browser Forum Baseline Requirements are warned about, or refused
 * under [policy] strict.
 */
static int config_cross_check(struct config_parser *p)
{
    const struct config *c = p->c;
    const size_t kv = config_key_index(CONFIG_S_INDEXER, "validity");
    const size_t kr = config_key_index(CONFIG_S_INDEXER, "refresh");
    const size_t kb = config_key_index(CONFIG_S_INDEXER, "backdate");
    const size_t ki = config_key_index(CONFIG_S_INDEXER, "interval");
    const size_t kcv = config_key_index(CONFIG_S_CRLGEN, "validity");
    const size_t kci = config_key_index(CONFIG_S_CRLGEN, "interval");
    char v[32], r[32], b[32], i[32], left[32];
    config_fmt_unit(v, sizeof(v), CONFIG_DURATION, c->indexer.validity);
    config_fmt_unit(r, sizeof(r), CONFIG_DURATION, c->indexer.refresh);
    config_fmt_unit(b, sizeof(b), CONFIG_DURATION, c->indexer.backdate);
    config_fmt_unit(i, sizeof(i), CONFIG_DURATION, c->indexer.interval);

    /* A response is valid from now - backdate to now - backdate + validity. */
    if (c->indexer.validity <= c->indexer.backdate)
        return config_relation_err(p, kv, kb,
                                   "%s is not greater than backdate %s (expected validity > "
                                   "backdate + refresh, or every response is born expired)",
                                   v, b);
    uint32_t fresh = c->indexer.validity - c->indexer.backdate;
    config_fmt_unit(left, sizeof(left), CONFIG_DURATION, fresh);
    if (c->indexer.refresh >= fresh) {
        if (p->set_line[kr] || (!p->set_line[kv] && !p->set_line[kb]))
            return config_relation_err(p, kr, kv,
                                       "%s is not less than validity - backdate = %s (expected "
                                       "refresh < validity - backdate, or every response is "
                                       "re-signed on every run)",
                                       r, left);
        return config_relation_err(p, kv, kb,
                                   "%s minus backdate %s leaves %s, not more than refresh %s "
                                   "(expected refresh < validity - backdate, or every response "
                                   "is re-signed on every run)",
                                   p->set_line[kv] ? v : b, p->set_line[kv] ? b : v, left, r);
    }
    /* Re-signing happens at a check; two checks must fit in the margin before expiry. */
    if ((uint64_t)c->indexer.refresh < 2 * (uint64_t)c->indexer.interval)
        return config_relation_err(p, kr, ki,
                                   "%s is less than twice interval %s (expected refresh >= 2 x "
                                   "interval, or a response can expire between two checks)",
                                   r, i);
    if (c->indexer.refresh < CONFIG_HOUR)
        config_warn(p,
                    "[indexer] refresh: %s leaves less than an hour between re-signing and "
                    "expiry: an indexer stopped for longer makes the responder answer tryLater",
                    r);
    if (c->crlgen.interval >= c->crlgen.validity) {
        config_fmt_unit(v, sizeof(v), CONFIG_DURATION, c->crlgen.validity);
        config_fmt_unit(i, sizeof(i), CONFIG_DURATION, c->crlgen.interval);
        return config_relation_err(p, kci, kcv,
                                   "interval %s is not less than validity %s (expected "
                                   "interval < validity, or each CRL expires before the next "
                                   "replaces it)",
                                   i, v);
    }
    if ((uint64_t)c->crlgen.interval * 2 > c->crlgen.validity)
        config_warn(p, "[crlgen] interval: more than half of validity: a failed run leaves "
                       "relying parties little time before the current CRL expires");
    for (size_t is = 0; is < c->n_issuers; is++)
        if (c->issuers[is].crl_shards == 1 ||
            (c->issuers[is].crl_shards > 1 && c->crlgen.url == NULL))
            return config_key_err(p, 0,
                                  &config_keys[config_key_index(CONFIG_S_ISSUER, "crl_shards")],
                                  &c->issuers[is],
                                  "expected 0, or 2 or more with [crlgen] url set (each shard "
                                  "names its URL)");
    if (c->crlgen.url != NULL &&
        (strncmp(c->crlgen.url, "http://", 7) != 0 || strlen(c->crlgen.url) > 900 ||
         strpbrk(c->crlgen.url, " \t\"<>\\^`{|}") != NULL))
        return config_relation_err(p, config_key_index(CONFIG_S_CRLGEN, "url"),
                                   config_key_index(CONFIG_S_CRLGEN, "url"),
                                   "expected an http:// URL of at most 900 "
                                   "characters without spaces (RFC 5280 4.2.1.13)");

    /* BR 4.9.10: OCSP validity 8 hours .. 10 days; BR 4.9.7: CRL validity <= 10 days. */
    int rc = 0;
    if (c->indexer.validity < 8 * CONFIG_HOUR)
        rc = config_br_limit(p, kv, "%s is under the Baseline Requirements' minimum of 8h (4.9.10)",
                             v);
    else if (c->indexer.validity > 10 * CONFIG_DAY)
        rc = config_br_limit(p, kv, "%s is over the Baseline Requirements' maximum of 10d (4.9.10)",
                             v);
    if (rc == 0 && c->crlgen.validity > 10 * CONFIG_DAY) {
        config_fmt_unit(v, sizeof(v), CONFIG_DURATION, c->crlgen.validity);
        rc = config_br_limit(p, kcv,
                             "%s is over the Baseline Requirements' maximum of 10d for "
                             "subscriber CRLs (4.9.7)",
                             v);
    }
    return rc;
}

/*
 * An issuer without a revocation source would have nothing to answer from; a
 * delta CRL without its full CRL cannot be applied (RFC 5280 5.2.4).
 */
static int config_check_sources(struct config_parser *p, const struct config_issuer *iss,
                                unsigned line)
{
    if (!iss->index && !iss->cert_dir && !iss->certmate_dir && !iss->crl_file)
        return config_err(p, line,
                          "[issuer %s]: no revocation source (expected at least one of index, "
                          "cert_dir, certmate_dir, crl_file)",
                          iss->name);
    if (iss->delta_crl_file && !iss->crl_file) {
        size_t k = config_key_index(CONFIG_S_ISSUER, "delta_crl_file");
        return config_key_err(p, p->iss_set_line[iss - p->c->issuers][k], &config_keys[k], iss,
                              "set without crl_file (a delta CRL applies to a full CRL)");
    }
    return 0;
}

static int config_parse_text(struct config_parser *p, const char *text, size_t len)
{
    const char *nul = memchr(text, '\0', len);
    unsigned line = 1;
    for (const char *s = text, *end = text + len; s < end; line++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        if (nul && nul < e)
            return config_err(p, line, "NUL byte (expected a text file)");
        const char *ts = s, *te = e;
        config_trim(&ts, &te);
        s = nl ? nl + 1 : end;
        if (ts == te || *ts == '#' || *ts == ';')
            continue;
        int r = *ts == '[' ? config_section(p, line, ts, te) : config_keyval(p, line, ts, te);
        if (r < 0)
            return r;
    }
    int r = config_defaults(p, NULL, false);
    for (size_t i = 0; r == 0 && i < p->c->n_issuers; i++)
        r = config_defaults(p, &p->c->issuers[i], true);
    for (size_t i = 0; r == 0 && i < p->c->n_issuers; i++)
        r = config_check_sources(p, &p->c->issuers[i], p->iss_line[i]);
    if (r == 0)
        r = config_cross_check(p);
    return r;
}

static int config_load_text(struct config *c, const char *name, const char *text, size_t len,
                            char *err, size_t errlen)
{
    int r = -ENOMEM;
    struct config_parser *p = calloc(1, sizeof(*p)); /* ~17 KiB of line numbers: not stack */
    if (!p) {
        if (err && errlen)
            snprintf(err, errlen, "%s: out of memory", name);
        goto fail;
    }
    p->c = c;
    p->name = name;
    p->err = err;
    p->errlen = errlen;
    const char *slash = strrchr(name, '/');
    p->dir_len = !slash ? 0 : slash == name ? 1 : (size_t)(slash - name);

    c->file = strdup(name);
    if (!c->file) {
        config_err(p, 0, "out of memory");
        r = -ENOMEM;
        goto fail;
    }
    r = config_parse_text(p, text, len);
    if (r < 0)
        goto fail;
    free(p);
    return 0;
fail:
    free(p);
    config_free(c);
    return r;
}

int config_load_mem(struct config *c, const char *name, const char *text, size_t len, char *err,
                    size_t errlen)
{
    memset(c, 0, sizeof(*c));
    if (err && errlen)
        err[0] = '\0';
    return config_load_text(c, name, text, len, err, errlen);
}

int config_load(struct config *c, const char *path, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    int r, fd;
    char eb[128];

    memset(c, 0, sizeof(*c));
    if (err && errlen)
        err[0] = '\0';
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        goto fail_errno;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto fail_errno;
    }
    if (!S_ISREG(st.st_mode)) {
        r = -EINVAL;
        if (err && errlen)
            snprintf(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if (st.st_size > (off_t)CONFIG_FILE_MAX) {
        r = -EFBIG;
        if (err && errlen)
            snprintf(err, errlen, "%s: file too large (expected at most %u bytes)", path,
                     CONFIG_FILE_MAX);
        goto fail;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        r = -ENOMEM;
        goto fail_errno;
    }
    /* Reads until EOF rather than trusting st_size, and still caps the total. */
    for (;;) {
        ssize_t n = read(fd, buf + len, (size_t)st.st_size + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto fail_errno;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > (size_t)st.st_size) {
            r = -EINVAL;
            if (err && errlen)
                snprintf(err, errlen, "%s: file grew while being read", path);
            goto fail;
        }
    }
    close(fd);
    fd = -1;
    r = config_load_text(c, path, buf, len, err, errlen);
    free(buf);
    return r;

fail_errno:
    if (err && errlen)
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror_r(-r, eb, sizeof(eb)));
fail:
    if (fd >= 0)
        close(fd);
    free(buf);
    config_free(c);
    return r;
}

void config_free(struct config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        const struct config_key *k = &config_keys[i];
        if (!config_is_text(k->type))
            continue;
        if (k->sect != CONFIG_S_ISSUER) {
            free(*(char **)config_field(c, NULL, k));
            continue;
        }
        for (size_t j = 0; j < c->n_issuers && j < CONFIG_MAX_ISSUERS; j++)
            free(*(char **)config_field(c, &c->issuers[j], k));
    }
    for (size_t j = 0; j < c->n_issuers && j < CONFIG_MAX_ISSUERS; j++)
        free(c->issuers[j].name);
    free(c->file);
    memset(c, 0, sizeof(*c));
}

/* ---- documentation ---- */

void config_log_warnings(const struct config *c, FILE *f)
{
    for (unsigned i = 0; i < c->n_warnings; i++) {
        if (f)
            fprintf(f, "warning: %s: %s\n", c->file ? c->file : "config", c->warnings[i]);
        else
            log_warn("%s: %s", c->file ? c->file : "config", c->warnings[i]);
    }
}

void config_write_doc(FILE *f)
{
    fputs(
        "# Configuration reference\n"
        "\n"
        "<!-- Generated by config_write_doc() from the key table in common/config.c; do not "
        "edit.\n"
        "     Regenerate: REVOKD_REGEN_DOCS=1 build/tests/common_test_config "
        "--filter 'config/doc_matches_table' -->\n"
        "\n"
        "revokd-indexer, revokd-responder and revokd-crlgen read one INI file (see\n"
        "`conf/revokd.conf` for a commented example) and refuse to start if any line of it\n"
        "is wrong, naming the file, the line and the key.\n"
        "\n"
        "## File format\n"
        "\n"
        "- `[section]` starts a section; `key = value` sets a key in it. Whitespace around\n"
        "  names and values is ignored; values are taken literally, with no quoting or escapes.\n"
        "- Lines whose first non-blank character is `#` or `;` are comments. A `#` later in a\n"
        "  line is part of the value.\n"
        "- Sections: `[store]`, `[log]`, `[indexer]`, `[responder]`, `[crlgen]`, `[policy]`, each\n"
        "  at most\n",
        f);
    fprintf(f,
            "  once, and one `[issuer NAME]` per CA (at most %d). Every section may be left out\n"
            "  when its defaults suit.\n",
            CONFIG_MAX_ISSUERS);
    fputs(
        "- An unknown section or key, a key set twice in a section, a duplicate issuer name, a\n"
        "  missing required key or a value outside its bounds is an error.\n"
        "\n"
        "## Value types\n"
        "\n"
        "| type | written as |\n"
        "|---|---|\n"
        "| string | text, or one of the listed values |\n"
        "| path | a file or directory name; a relative path is relative to the directory that "
        "holds the config file, not to the working directory |\n"
        "| integer | decimal digits, no sign |\n"
        "| size | bytes: a whole number with an optional suffix `K`, `M`, `G` or `T` "
        "(powers of 1024, either case), e.g. `4096`, `512M`, `64G` |\n"
        "| duration | seconds: a whole number with an optional suffix `s`, `m`, `h` or `d` "
        "(lower case, one unit), e.g. `90`, `30s`, `15m`, `96h`, `4d` |\n"
        "| log level | `error`, `warn`, `info` or `debug` |\n"
        "| address | numeric IPv4 `192.0.2.1:8080` or IPv6 `[2001:db8::1]:8080`, port "
        "1..65535; host names are not accepted |\n"
        "| digest | `sha256`, `sha384` or `sha512` |\n"
        "| boolean | `yes` or `no` (also `true`/`false`, `on`/`off`, `1`/`0`) |\n"
        "\n"
        "Bounds are inclusive.\n"
        "\n"
        "## Relative paths\n"
        "\n"
        "A relative path is joined to the directory of the config file when it is loaded: with\n"
        "`/srv/demo/revokd.conf` containing `ca_cert = ca.pem`, the CA certificate is\n"
        "`/srv/demo/ca.pem` whatever the working directory. Absolute paths are used as written.\n",
        f);

    for (int s = 0; s < CONFIG_S_COUNT; s++) {
        fprintf(f, "\n## [%s]\n\n%s\n\n", config_sects[s].name, config_sects[s].doc);
        fputs("| key | type | default | bounds | meaning |\n|---|---|---|---|---|\n", f);
        for (size_t i = 0; i < CONFIG_NKEYS; i++) {
            const struct config_key *k = &config_keys[i];
            if ((int)k->sect != s)
                continue;
            char def[128], bounds[160];
            if (k->def)
                snprintf(def, sizeof(def), "`%s`", k->def);
            else if (k->required)
                snprintf(def, sizeof(def), "required");
            else if (k->inherit)
                snprintf(def, sizeof(def), "value of `%s`", k->inherit);
            else
                snprintf(def, sizeof(def), "none");
            if (k->type == CONFIG_UINT || k->type == CONFIG_SIZE || k->type == CONFIG_DURATION)
                config_fmt_bounds(bounds, sizeof(bounds), k);
            else if (k->choices)
                config_fmt_choices(bounds, sizeof(bounds), k->choices, "`");
            else
                snprintf(bounds, sizeof(bounds), "-");
            fprintf(f, "| `%s` | %s | %s | %s | %s |\n", k->name, config_type_names[k->type], def,
                    bounds, k->doc);
        }
    }
}
