/*
 * livesigner — revokd-signer's service loop and answer builder. One thread
 * polls the listening socket and every client (one per responder worker);
 * requests are answered in arrival order, each with one signature however many
 * CertIDs it names. The store is read through one read-only txn renewed per
 * poll wakeup, so an answer reflects the indexer's latest commit. Why a process
 * of its own and not a thread of the indexer: docs/signer.md.
 */
#include "livesigner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "der.h"
#include "log.h"
#include "ocsp_resp.h"

/* Output a client may leave unread before we stop reading its requests. */
#define LS_OUT_MAX (1u << 20)
/* Room for one answer's DER: SIGNPROTO_CERTS_MAX SingleResponses and the certificate. */
#define LS_DER_MAX (SIGNPROTO_BODY_MAX - 32)

/* id-pkix-ocsp-extended-revoke (RFC 6960 4.4.8), 1.3.6.1.5.5.7.48.1.9. */
static const uint8_t OID_EXTENDED_REVOKE[9] = {0x2b, 0x06, 0x01, 0x05, 0x05,
                                               0x07, 0x30, 0x01, 0x09};

struct ls_client {
    int fd;
    uint8_t in[2 * SIGNPROTO_FRAME_MAX];
    size_t in_len;
    uint8_t *out;
    size_t out_len, out_cap;
};

static X509 *ls_load_cert(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return x;
}

static int ls_asn1_time(const ASN1_TIME *t, int64_t *out)
{
    ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
    int day, sec;
    int ok = epoch && ASN1_TIME_diff(&day, &sec, epoch, t);
    ASN1_TIME_free(epoch);
    if (!ok)
        return -EINVAL;
    *out = (int64_t)day * 86400 + sec;
    return 0;
}

/* Loads one issuer: CA hashes from our own ca_cert, the signer, its delegation. */
static int ls_issuer_load(struct livesigner_issuer *li, const struct config_issuer *conf)
{
    X509 *ca = NULL, *sg = NULL;
    uint8_t *der = NULL;
    int rc = -EINVAL;
    li->conf = conf;
    li->unknown = strcmp(conf->unknown_serial, "unauthorized") == 0 ? LS_UNKNOWN_UNAUTHORIZED
                  : strcmp(conf->unknown_serial, "revoked") == 0    ? LS_UNKNOWN_REVOKED
                                                                    : LS_UNKNOWN_UNKNOWN;
    if (!(ca = ls_load_cert(conf->ca_cert)) || !(sg = ls_load_cert(conf->signer_cert))) {
        log_err("[issuer %s] cannot read ca_cert %s or signer_cert %s", conf->name, conf->ca_cert,
                conf->signer_cert);
        goto fail;
    }
    /* The same rule as the indexer (RFC 6960 4.2.2.2): the CA, or one it issued for OCSP. */
    if (X509_cmp(ca, sg) != 0 &&
        (X509_check_issued(ca, sg) != X509_V_OK || X509_verify(sg, X509_get0_pubkey(ca)) != 1 ||
         !(X509_get_extension_flags(sg) & EXFLAG_XKUSAGE) ||
         !(X509_get_extended_key_usage(sg) & XKU_OCSP_SIGN))) {
        log_err("[issuer %s] signer_cert %s is neither the CA nor an OCSP signer it issued",
                conf->name, conf->signer_cert);
        goto fail;
    }
    if (ls_asn1_time(X509_get0_notAfter(sg), &li->signer_not_after) < 0)
        goto fail;
    int n = i2d_X509(ca, &der);
    if (n <= 0 || (rc = ocsp_issuer_hashes(der, (size_t)n, &li->hashes)) < 0) {
        rc = -EINVAL;
        goto fail;
    }
    if ((rc = signer_load(&li->signer, conf->signer_cert, conf->signer_key, conf->digest)) < 0) {
        log_err("[issuer %s] cannot load signer_cert/signer_key", conf->name);
        goto fail;
    }
    li->loaded = true;
    rc = 0;
fail:
    OPENSSL_free(der);
    X509_free(ca);
    X509_free(sg);
    return rc;
}

static int ls_listen(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = -1, rc;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        log_err("[signer] socket: path too long for a Unix socket: %s", path);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
        goto fail;
    /* A socket file left by a previous run would make bind fail; it holds no state. */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    /* Owner and group only: the responder runs in the signer's group (docs/signer.md). */
    mode_t old = umask(0117);
    rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc < 0 || listen(fd, 128) < 0)
        goto fail;
    return fd;
fail:
    rc = -errno;
    log_err("[signer] socket %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

int livesigner_check(const struct config *cfg)
{
    static struct livesigner_issuer li;
    for (size_t i = 0; i < cfg->n_issuers; i++) {
        memset(&li, 0, sizeof(li));
        int rc = ls_issuer_load(&li, &cfg->issuers[i]);
        if (rc < 0)
            return rc;
        signer_free(&li.signer);
    }
    if (!cfg->signer.socket) {
        log_err("[signer] socket is not set: nothing to listen on");
        return -EINVAL;
    }
    return 0;
}

int livesigner_init(struct livesigner *ls, const struct config *cfg)
{
    int rc;
    memset(ls, 0, sizeof(*ls));
    ls->cfg = cfg;
    ls->lfd = -1;
    if (!cfg->signer.socket) {
        log_err("[signer] socket is not set: nothing to listen on");
        return -EINVAL;
    }
    for (size_t i = 0; i < cfg->n_issuers; i++) {
        if ((rc = ls_issuer_load(&ls->iss[i], &cfg->issuers[i])) < 0)
            goto fail;
        ls->n_issuers++;
    }
    if ((rc = store_open(&ls->store, cfg->store.path, cfg->store.map_size, STORE_RDONLY)) < 0) {
        log_err("[store] path %s: %s", cfg->store.path, strerror(-rc));
        goto fail;
    }
    if ((rc = store_txn_begin(ls->store, &ls->txn, true)) < 0)
        goto fail;
    store_txn_reset(&ls->txn);
    ls->txn_open = true;
    if ((rc = ls_listen(cfg->signer.socket)) < 0)
        goto fail;
    ls->lfd = rc;
    return 0;
fail:
    livesigner_free(ls);
    return rc;
}

int livesigner_init_peer(struct livesigner *ls, struct livesigner *owner)
{
    int rc;
    memset(ls, 0, sizeof(*ls));
    ls->cfg = owner->cfg;
    ls->owner = owner;
    ls->store = owner->store;
    ls->lfd = owner->lfd;
    for (size_t i = 0; i < ls->cfg->n_issuers; i++) {
        if ((rc = ls_issuer_load(&ls->iss[i], &ls->cfg->issuers[i])) < 0)
            goto fail;
        ls->n_issuers++;
    }
    if ((rc = store_txn_begin(ls->store, &ls->txn, true)) < 0)
        goto fail;
    store_txn_reset(&ls->txn);
    ls->txn_open = true;
    return 0;
fail:
    livesigner_free(ls);
    return rc;
}

void livesigner_free(struct livesigner *ls)
{
    if (ls->owner) { /* a peer: the store and the socket are the owner's */
        ls->lfd = -1;
        if (ls->txn_open)
            store_txn_abort(&ls->txn);
        ls->txn_open = false;
        ls->store = NULL;
    }
    if (ls->lfd >= 0) {
        close(ls->lfd);
        if (ls->cfg && ls->cfg->signer.socket)
            unlink(ls->cfg->signer.socket);
    }
    ls->lfd = -1;
    if (ls->txn_open)
        store_txn_abort(&ls->txn);
    ls->txn_open = false;
    if (ls->store)
        store_close(ls->store);
    ls->store = NULL;
    for (size_t i = 0; i < ls->n_issuers; i++) {
        if (ls->iss[i].loaded)
            signer_free(&ls->iss[i].signer);
        ls->iss[i].loaded = false;
    }
    ls->n_issuers = 0;
}

/* The configured issuer a CertID names, by its hashes of our own ca_cert, or NULL. */
static struct livesigner_issuer *ls_find(struct livesigner *ls, const struct signproto_certid *id)
{
    for (size_t i = 0; i < ls->n_issuers; i++) {
        const struct ocsp_issuer_hashes *h = &ls->iss[i].hashes;
        bool m = id->hash == STORE_HASH_SHA1 ? memcmp(id->name_hash, h->name_sha1, 20) == 0 &&
                                                   memcmp(id->key_hash, h->key_sha1, 20) == 0
                                             : memcmp(id->name_hash, h->name_sha256, 32) == 0 &&
                                                   memcmp(id->key_hash, h->key_sha256, 32) == 0;
        if (m)
            return &ls->iss[i];
    }
    return NULL;
}

/* What one SingleResponse says. */
struct ls_single {
    enum { LS_GOOD, LS_REVOKED, LS_UNKNOWN } kind;
    int64_t revoked_at;
    uint8_t reason; /* STORE_REASON_NONE: omitted */
    int64_t this_update;
};

static void ls_write_single(struct derw *w, const struct signproto_certid *id,
                            const struct ls_single *s, int64_t next_update)
{
    derw_open(w, DER_SEQUENCE); /* SingleResponse */
    /* CertID, echoing the request's algorithm */
    ocsp_resp_certid(w, (enum store_hash)id->hash, id->name_hash, id->key_hash, id->serial,
                     id->serial_len);
    if (s->kind == LS_GOOD) {
        derw_tlv(w, DER_CTX(0), NULL, 0);
    } else if (s->kind == LS_UNKNOWN) {
        derw_tlv(w, DER_CTX(2), NULL, 0); /* unknown [2] IMPLICIT UnknownInfo (NULL) */
    } else {
        derw_open(w, DER_CTX_CONS(1));
        derw_gentime(w, s->revoked_at);
        if (s->reason != STORE_REASON_NONE) {
            derw_open(w, DER_CTX_CONS(0));
            derw_enum(w, s->reason);
            derw_close(w);
        }
        derw_close(w);
    }
    derw_gentime(w, s->this_update);
    derw_open(w, DER_CTX_CONS(0));
    derw_gentime(w, next_update);
    derw_close(w);
    derw_close(w);
}

int livesigner_answer(struct livesigner *ls, const struct signproto_req *req, int64_t now,
                      uint8_t *buf, size_t cap, struct signproto_resp *resp)
{
    struct ls_single singles[SIGNPROTO_CERTS_MAX];
    struct livesigner_issuer *li = NULL;
    const struct store_issuer_rec *rec;
    const uint8_t *cacert;
    uint32_t issuer_id;
    bool any_listed = false, ext_revoke = false;
    int rc;

    memset(resp, 0, sizeof(*resp));
    resp->id = req->id;
    resp->status = OCSP_UNAUTHORIZED;
    /* One signature covers the whole answer, so every CertID must be one issuer's. */
    for (unsigned i = 0; i < req->n; i++) {
        struct livesigner_issuer *x = ls_find(ls, &req->ids[i]);
        if (!x || (li && x != li))
            return 0;
        li = x;
    }
    rc = store_get_issuer_by_name(&ls->txn, li->conf->name, &rec, &cacert);
    if (rc == -ENOENT) /* the indexer has not registered it yet: nothing is known */
        return 0;
    if (rc < 0)
        return rc;
    issuer_id = rec->id;
    int64_t base = now - (int64_t)ls->cfg->indexer.backdate;
    int64_t next = now + (int64_t)ls->cfg->signer.validity;
    if (next > li->signer_not_after)
        next = li->signer_not_after;
    if (now > li->signer_not_after) { /* nobody would accept it */
        resp->status = OCSP_TRY_LATER;
        return 0;
    }
    for (unsigned i = 0; i < req->n; i++) {
        const struct signproto_certid *id = &req->ids[i];
        struct ls_single *s = &singles[i];
        struct store_cert c;
        s->this_update = base;
        s->reason = STORE_REASON_NONE;
        rc = store_get_cert(&ls->txn, issuer_id, id->serial, id->serial_len, &c);
        if (rc == 0) {
            any_listed = true;
            if (c.status == STORE_GOOD) {
                s->kind = LS_GOOD;
            } else {
                s->kind = LS_REVOKED;
                s->revoked_at = c.revoked_at;
                /* as a pre-signed response says it */
                if (ocsp_resp_reason((enum store_status)c.status, c.reason, &s->reason) < 0)
                    return -EINVAL;
                if (s->this_update < c.revoked_at) /* never before the revocation */
                    s->this_update = c.revoked_at;
            }
        } else if (rc == -ENOENT) {
            switch (li->unknown) {
            case LS_UNKNOWN_UNAUTHORIZED:
                return 0;
            case LS_UNKNOWN_UNKNOWN:
                s->kind = LS_UNKNOWN;
                break;
            case LS_UNKNOWN_REVOKED:
                /* RFC 6960 2.2: revoked, certificateHold, 1970-01-01, extended revoke. */
                s->kind = LS_REVOKED;
                s->revoked_at = 0;
                s->reason = 6;
                ext_revoke = true;
                break;
            }
        } else {
            return rc;
        }
        if (next <= s->this_update)
            next = s->this_update + 1;
    }

    struct derw w;
    derw_init_fixed(&w, buf, cap);
    derw_open(&w, DER_SEQUENCE); /* OCSPResponse */
    derw_enum(&w, OCSP_SUCCESSFUL);
    derw_open(&w, DER_CTX_CONS(0));
    derw_open(&w, DER_SEQUENCE); /* ResponseBytes */
    derw_oid(&w, OID_PKIX_OCSP_BASIC, sizeof(OID_PKIX_OCSP_BASIC));
    derw_open(&w, DER_OCTET_STRING);
    derw_open(&w, DER_SEQUENCE); /* BasicOCSPResponse */
    size_t tbs_at = w.len;
    derw_open(&w, DER_SEQUENCE);    /* ResponseData, v1 */
    derw_open(&w, DER_CTX_CONS(2)); /* responderID byKey */
    derw_tlv(&w, DER_OCTET_STRING, li->signer.key_sha1, sizeof(li->signer.key_sha1));
    derw_close(&w);
    derw_gentime(&w, now);
    derw_open(&w, DER_SEQUENCE);
    for (unsigned i = 0; i < req->n; i++)
        ls_write_single(&w, &req->ids[i], &singles[i], next);
    derw_close(&w);
    if (req->nonce_len || ext_revoke) {
        derw_open(&w, DER_CTX_CONS(1)); /* responseExtensions */
        derw_open(&w, DER_SEQUENCE);
        if (req->nonce_len) {
            /* The request's extnValue contents verbatim: clients compare bytes. */
            derw_open(&w, DER_SEQUENCE);
            derw_oid(&w, OID_PKIX_OCSP_NONCE, sizeof(OID_PKIX_OCSP_NONCE));
            derw_tlv(&w, DER_OCTET_STRING, req->nonce, req->nonce_len);
            derw_close(&w);
        }
        if (ext_revoke) {
            static const uint8_t null_der[2] = {0x05, 0x00};
            derw_open(&w, DER_SEQUENCE);
            derw_oid(&w, OID_EXTENDED_REVOKE, sizeof(OID_EXTENDED_REVOKE));
            derw_tlv(&w, DER_OCTET_STRING, null_der, sizeof(null_der));
            derw_close(&w);
        }
        derw_close(&w);
        derw_close(&w);
    }
    derw_close(&w); /* ResponseData */
    if (w.err)
        return w.err;
    uint8_t sig[SIGN_SIG_MAX];
    size_t sig_len;
    if ((rc = signer_sign(&li->signer, w.buf + tbs_at, w.len - tbs_at, sig, sizeof(sig),
                          &sig_len)) < 0)
        return rc;
    derw_raw(&w, li->signer.alg, li->signer.alg_len);
    derw_bitstring(&w, sig, sig_len);
    derw_open(&w, DER_CTX_CONS(0)); /* certs: the signer, so clients can verify */
    derw_open(&w, DER_SEQUENCE);
    derw_raw(&w, li->signer.cert_der, li->signer.cert_len);
    derw_close(&w);
    derw_close(&w);
    derw_close(&w); /* BasicOCSPResponse */
    derw_close(&w); /* OCTET STRING */
    derw_close(&w); /* ResponseBytes */
    derw_close(&w); /* [0] */
    derw_close(&w); /* OCSPResponse */
    if (w.err)
        return w.err;
    resp->status = OCSP_SUCCESSFUL;
    resp->flags = any_listed ? 0 : SIGNPROTO_F_UNLISTED;
    resp->this_update = singles[0].this_update;
    resp->next_update = next;
    resp->der = buf;
    resp->der_len = w.len;
    return 0;
}

static int ls_out_append(struct ls_client *c, const uint8_t *p, size_t n)
{
    if (c->out_cap - c->out_len < n) {
        size_t cap = c->out_cap ? c->out_cap : 65536;
        while (cap - c->out_len < n)
            cap *= 2;
        uint8_t *o = realloc(c->out, cap);
        if (!o)
            return -ENOMEM;
        c->out = o;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return 0;
}

/* Answers every whole frame in c->in. -errno drops the client (a framing error). */
static int ls_client_requests(struct livesigner *ls, struct ls_client *c, int64_t now)
{
    static _Thread_local uint8_t der[LS_DER_MAX], frame[SIGNPROTO_FRAME_MAX];
    static _Thread_local struct signproto_req req;
    size_t off = 0, flen;
    int rc = 0;
    while (c->out_len < LS_OUT_MAX) {
        rc = signproto_frame(c->in + off, c->in_len - off, &flen);
        if (rc == -EAGAIN) {
            rc = 0;
            break;
        }
        if (rc < 0)
            break;
        struct signproto_resp resp;
        ls->st.requests++;
        if (signproto_parse_req(c->in + off, flen, &req) < 0) {
            /* No id to answer: the peer is not speaking this version. Drop it. */
            ls->st.malformed++;
            log_warn("client fd %d: malformed request frame; closing", c->fd);
            rc = -EBADMSG;
            break;
        }
        rc = livesigner_answer(ls, &req, now, der, sizeof(der), &resp);
        if (rc < 0) {
            log_warn("cannot sign a live answer: %s", strerror(-rc));
            memset(&resp, 0, sizeof(resp));
            resp.id = req.id;
            resp.status = OCSP_INTERNAL_ERROR;
        }
        if (resp.status == OCSP_SUCCESSFUL)
            ls->st.signed_++;
        else
            ls->st.refused++;
        int n = signproto_put_resp(frame, sizeof(frame), &resp);
        if (n < 0 || (rc = ls_out_append(c, frame, (size_t)n)) < 0) {
            rc = n < 0 ? n : rc;
            break;
        }
        rc = 0;
        off += flen;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return rc;
}

static int ls_client_flush(struct ls_client *c)
{
    while (c->out_len) {
        ssize_t k = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -errno;
        }
        memmove(c->out, c->out + k, c->out_len - (size_t)k);
        c->out_len -= (size_t)k;
    }
    return 0;
}

static void ls_client_close(struct ls_client *c)
{
    close(c->fd);
    free(c->out);
    c->fd = -1;
    c->out = NULL;
    c->out_len = c->out_cap = c->in_len = 0;
}

int livesigner_run(struct livesigner *ls, volatile sig_atomic_t *stop)
{
    struct ls_client *cl = calloc(LIVESIGNER_CLIENTS, sizeof(*cl));
    struct pollfd *pf = calloc(LIVESIGNER_CLIENTS + 1, sizeof(*pf));
    int rc = 0;
    if (!cl || !pf) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < LIVESIGNER_CLIENTS; i++)
        cl[i].fd = -1;
    if (!ls->owner)
        log_info("listening on %s (%zu issuer(s), %u thread(s))", ls->cfg->signer.socket,
                 ls->n_issuers, ls->cfg->signer.threads);
    while (!*stop) {
        nfds_t n = 0;
        pf[n++] = (struct pollfd){.fd = ls->lfd, .events = POLLIN};
        for (size_t i = 0; i < LIVESIGNER_CLIENTS; i++) {
            short ev = 0;
            if (cl[i].fd < 0)
                continue;
            if (cl[i].out_len < LS_OUT_MAX && cl[i].in_len < sizeof(cl[i].in))
                ev |= POLLIN;
            if (cl[i].out_len)
                ev |= POLLOUT;
            pf[n++] = (struct pollfd){.fd = cl[i].fd, .events = ev};
        }
        int k = poll(pf, n, 1000);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            log_err("poll: %s", strerror(errno));
            break;
        }
        if (k == 0)
            continue;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t now = (int64_t)ts.tv_sec;
        if (store_txn_renew(&ls->txn) < 0) {
            log_err("store: cannot renew the read transaction");
            rc = -EIO;
            break;
        }
        nfds_t j = 1;
        for (size_t i = 0; i < LIVESIGNER_CLIENTS; i++) {
            struct ls_client *c = &cl[i];
            if (c->fd < 0)
                continue;
            short re = pf[j++].revents;
            if (re & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t got = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
                if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
                    ls_client_close(c);
                    continue;
                }
                if (got > 0)
                    c->in_len += (size_t)got;
            }
            if (ls_client_requests(ls, c, now) < 0 || ls_client_flush(c) < 0)
                ls_client_close(c);
        }
        store_txn_reset(&ls->txn);
        if (pf[0].revents & POLLIN) {
            /* Every thread polls the socket; the ones that lose the race get EAGAIN. */
            int fd = accept4(ls->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0) {
                size_t i = 0;
                while (i < LIVESIGNER_CLIENTS && cl[i].fd >= 0)
                    i++;
                if (i == LIVESIGNER_CLIENTS) {
                    log_warn("too many clients (%d): refusing one", LIVESIGNER_CLIENTS);
                    close(fd);
                } else {
                    cl[i].fd = fd;
                    log_debug("client fd %d connected", fd);
                }
            }
        }
    }
    log_info("stopping: %llu requests, %llu signed, %llu refused, %llu malformed",
             (unsigned long long)ls->st.requests, (unsigned long long)ls->st.signed_,
             (unsigned long long)ls->st.refused, (unsigned long long)ls->st.malformed);
out:
    if (cl) {
        for (size_t i = 0; i < LIVESIGNER_CLIENTS; i++) {
            if (cl[i].fd >= 0)
                ls_client_close(&cl[i]);
        }
    }
    free(cl);
    free(pf);
    return rc;
}
