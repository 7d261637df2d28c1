/*
 * revokctl — the CA operator's command: revoke, hold or release one certificate
 * by hand, or look at what the store holds. It is a program of the indexer
 * module: it reads the same configuration, loads the same issuer and signer
 * (sync_issuer_init) and writes the store in one LMDB write transaction, which
 * LMDB serialises with the running indexer's. The new status, its change-log
 * record and both re-signed OCSP responses commit together, so the responder
 * answers the new status as soon as revokctl returns, and crlgen's next run
 * lists it. Every revoke/hold/release attempt is appended to the audit log
 * (revokctl.h). status and list only read the store, and need no signing key.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "revokctl.h"
#include "store.h"
#include "sync.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: revokctl -c FILE revoke  --issuer NAME --serial HEX --reason REASON\n"
        "                               [--time T] [--invalidity-date T] [--by WHO] [--comment "
        "TEXT]\n"
        "       revokctl -c FILE hold    --issuer NAME --serial HEX [--time T] [--by WHO] "
        "[--comment TEXT]\n"
        "       revokctl -c FILE release --issuer NAME --serial HEX [--by WHO] [--comment TEXT]\n"
        "       revokctl -c FILE status  --issuer NAME --serial HEX [--json]\n"
        "       revokctl -c FILE list    --issuer NAME [--revoked] [--json]\n"
        "  -c, --config FILE        revokd configuration (the indexer's: same store and keys)\n"
        "  -i, --issuer NAME        the [issuer NAME] section of the certificate's CA\n"
        "  -s, --serial HEX         serial number in hex, as index.txt and `openssl x509 -serial`\n"
        "                           write it (0x prefix and ':' separators accepted)\n"
        "  -r, --reason REASON      RFC 5280 CRLReason name: unspecified, keyCompromise,\n"
        "                           cACompromise, affiliationChanged, superseded,\n"
        "                           cessationOfOperation, privilegeWithdrawn, aACompromise\n"
        "                           (certificateHold is `hold`, removeFromCRL is `release`)\n"
        "  -t, --time T             revocation (or hold) time, RFC 3339 (2026-11-30T12:00:00Z)\n"
        "                           or GeneralizedTime (20261130120000Z); default now; never\n"
        "                           in the future\n"
        "      --invalidity-date T  when the key was (suspected to be) compromised; not after\n"
        "                           the revocation time\n"
        "      --by WHO             who asked for it (ticket, requester), for the audit log\n"
        "  -m, --comment TEXT       free text for the audit log\n"
        "      --json               status/list: JSON instead of text\n"
        "      --revoked            list: only revoked and held certificates\n"
        "Rules (docs/operations.md): revoked wins over every source and is never undone; a\n"
        "revocation's reason only ever changes to keyCompromise; revokctl releases only holds\n"
        "it set. A serial the store does not know is revoked (or held) anyway.\n"
        "Exit: 0 done or already so, 1 refused or failed, 2 usage, 3 status: unknown serial.\n"
        "Every revoke/hold/release is appended to the audit log ([indexer] audit_log).\n");
}

/* A usage error: one line on stderr, exit code 2. */
__attribute__((format(printf, 1, 2))) static int bad(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "revokctl: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (revokctl --help)\n");
    return REVOKCTL_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    enum { O_INVALIDITY = 256, O_BY, O_JSON, O_REVOKED };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"issuer", required_argument, NULL, 'i'},
        {"serial", required_argument, NULL, 's'},
        {"reason", required_argument, NULL, 'r'},
        {"time", required_argument, NULL, 't'},
        {"invalidity-date", required_argument, NULL, O_INVALIDITY},
        {"by", required_argument, NULL, O_BY},
        {"comment", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, O_JSON},
        {"revoked", no_argument, NULL, O_REVOKED},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *issuer = NULL, *serial_s = NULL, *reason_s = NULL, *time_s = NULL,
               *inval_s = NULL, *by = NULL, *comment = NULL;
    bool json = false, revoked_only = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:i:s:r:t:m:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'i':
            issuer = optarg;
            break;
        case 's':
            serial_s = optarg;
            break;
        case 'r':
            reason_s = optarg;
            break;
        case 't':
            time_s = optarg;
            break;
        case O_INVALIDITY:
            inval_s = optarg;
            break;
        case O_BY:
            by = optarg;
            break;
        case 'm':
            comment = optarg;
            break;
        case O_JSON:
            json = true;
            break;
        case O_REVOKED:
            revoked_only = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return REVOKCTL_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return REVOKCTL_EXIT_USAGE;
    }
    const char *cmd_s = argv[optind];
    static const char *const names[] = {"revoke", "hold", "release", "status", "list"};
    struct revokctl_req rq = {.cmd = REVOKCTL_LIST + 1};
    for (int i = 0; i < 5; i++)
        if (strcmp(cmd_s, names[i]) == 0)
            rq.cmd = (enum revokctl_cmd)i;
    if ((int)rq.cmd > REVOKCTL_LIST)
        return bad("unknown command %s: revoke, hold, release, status or list", cmd_s);
    bool changes = rq.cmd <= REVOKCTL_RELEASE;

    /* Every option must belong to the command: a --time given to release is a mistake. */
    if (!path)
        return bad("%s needs -c CONFIG", cmd_s);
    if (!issuer)
        return bad("%s needs --issuer NAME", cmd_s);
    if (!serial_s && rq.cmd != REVOKCTL_LIST)
        return bad("%s needs --serial HEX", cmd_s);
    if (serial_s && rq.cmd == REVOKCTL_LIST)
        return bad("%s takes no --serial", cmd_s);
    if (rq.cmd == REVOKCTL_REVOKE && !reason_s)
        return bad("%s needs --reason (an RFC 5280 name, e.g. keyCompromise, superseded)", cmd_s);
    if (reason_s && rq.cmd != REVOKCTL_REVOKE)
        return bad("%s takes no --reason (hold is certificateHold, release is removeFromCRL)",
                   cmd_s);
    if (time_s && rq.cmd != REVOKCTL_REVOKE && rq.cmd != REVOKCTL_HOLD)
        return bad("%s takes no --time", cmd_s);
    if (inval_s && rq.cmd != REVOKCTL_REVOKE)
        return bad("%s takes no --invalidity-date", cmd_s);
    if ((by || comment) && !changes)
        return bad("%s changes nothing: --by and --comment are for revoke, hold and release",
                   cmd_s);
    if ((json || revoked_only) && changes)
        return bad("%s takes no --json or --revoked", cmd_s);
    if (revoked_only && rq.cmd != REVOKCTL_LIST)
        return bad("%s takes no --revoked", cmd_s);
    if (by && !revokctl_text_ok(by))
        return bad("--by must be UTF-8 text of at most 512 bytes: %s", by);
    if (comment && !revokctl_text_ok(comment))
        return bad("--comment must be UTF-8 text of at most 512 bytes: %s", comment);

    uint8_t serial[DER_SERIAL_MAX];
    size_t serial_len = 0;
    if (serial_s && revokctl_parse_serial(serial_s, serial, &serial_len) < 0)
        return bad("--serial %s: expected a hex serial number such as 1001 or 0x1001", serial_s);
    if (reason_s && revokctl_parse_reason(reason_s, &rq.reason) < 0)
        return bad("--reason %s: not an RFC 5280 CRLReason name (unspecified, keyCompromise, "
                   "cACompromise, affiliationChanged, superseded, cessationOfOperation, "
                   "privilegeWithdrawn, aACompromise)",
                   reason_s);
    if (rq.cmd == REVOKCTL_REVOKE && rq.reason == REVOKCTL_REASON_HOLD)
        return bad("--reason %s: use `revokctl hold` to put a certificate on hold", reason_s);
    if (rq.cmd == REVOKCTL_REVOKE && rq.reason == REVOKCTL_REASON_REMOVE)
        return bad("--reason %s: use `revokctl release` to release a hold", reason_s);
    if (time_s && revokctl_parse_time(time_s, &rq.time) < 0)
        return bad("--time %s: expected RFC 3339 (2026-11-30T12:00:00Z) or GeneralizedTime "
                   "(20261130120000Z)",
                   time_s);
    if (inval_s && revokctl_parse_time(inval_s, &rq.invalidity) < 0)
        return bad("--invalidity-date %s: expected RFC 3339 (2026-11-30T12:00:00Z) or "
                   "GeneralizedTime (20261130120000Z)",
                   inval_s);
    char why[512];
    if (revokctl_check_req(&rq, (int64_t)time(NULL), why, sizeof(why)) < 0)
        return bad("%s", why);

    struct config cfg;
    char err[512];
    if (config_load(&cfg, path, err, sizeof(err)) < 0) {
        fprintf(stderr, "revokctl: %s\n", err);
        return REVOKCTL_EXIT_USAGE;
    }
    log_init("revokctl", (enum log_level)cfg.log.level);
    int ret = REVOKCTL_EXIT_REFUSED;
    struct store *store = NULL;
    struct sync_issuer si;
    bool si_ok = false;
    const struct config_issuer *ci = NULL;
    for (size_t i = 0; i < cfg.n_issuers; i++)
        if (strcmp(cfg.issuers[i].name, issuer) == 0)
            ci = &cfg.issuers[i];
    if (!ci) {
        fprintf(stderr, "revokctl: no [issuer %s] section in %s\n", issuer, path);
        ret = REVOKCTL_EXIT_USAGE;
        goto out;
    }
    int rc = store_open(&store, cfg.store.path, cfg.store.map_size, changes ? 0 : STORE_RDONLY);
    if (rc < 0) {
        fprintf(stderr, "revokctl: [store] path %s: cannot open store: %s\n", cfg.store.path,
                rc == -EPROTO ? STORE_SCHEMA_HINT : strerror(-rc));
        goto out;
    }
    if (rq.cmd == REVOKCTL_STATUS) {
        ret = revokctl_status(store, issuer, serial, serial_len, json, stdout, stderr);
        goto out;
    }
    if (rq.cmd == REVOKCTL_LIST) {
        ret = revokctl_list(store, issuer, revoked_only, json, stdout, stderr);
        goto out;
    }
    char audit[4096];
    if (revokctl_audit_path(&cfg, audit, sizeof(audit)) < 0) {
        fprintf(stderr, "revokctl: audit log path too long\n");
        goto out;
    }
    /* Logs why it failed (file, dates); a signer that cannot sign changes nothing. */
    if (sync_issuer_init(&si, ci, store) < 0) {
        fprintf(stderr,
                "revokctl: [issuer %s] cannot load the CA certificate and OCSP signer: "
                "nothing changed\n",
                issuer);
        goto out;
    }
    si_ok = true;
    struct sync_params p = {.validity = cfg.indexer.validity,
                            .refresh = cfg.indexer.refresh,
                            .backdate = cfg.indexer.backdate,
                            .batch = cfg.indexer.batch,
                            .signer_warn = cfg.indexer.signer_warn};
    struct revokctl_who who;
    revokctl_who_init(&who);
    who.by = by;
    who.comment = comment;
    ret = revokctl_change(&si, store, &p, audit, &who, &rq, serial, serial_len, stdout, stderr);
out:
    if (si_ok)
        sync_issuer_free(&si);
    store_close(store);
    config_free(&cfg);
    return ret;
}
