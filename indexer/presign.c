/*
 * presign — a small pool of signing threads with one batch in flight. The batch
 * is published under a mutex with a generation number; threads claim job indexes
 * with an atomic fetch-add (no lock per job) and the last one to leave the
 * batch wakes the writer.
 */
#include "presign.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

/*
 * A batch this large is a bulk pass (an import, a refresh, a rotation): each
 * worker then moves its signer into its own OpenSSL library context
 * (signer_thread_own_context(): ~0.9 ms once, then ~3% more ECDSA signatures
 * per CPU-second with two threads). A live change signs a few responses and
 * never pays for it. Sync submits chunks of up to 1024.
 */
#define PRESIGN_OWN_CONTEXT_MIN 512

struct presign_worker {
    struct presign_pool *pool;
    struct signer sg;
    pthread_t tid;
    bool started;
    bool moved; /* signer_thread_own_context() tried */
};

struct presign_pool {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    unsigned gen; /* bumped by each submit */
    bool stop;
    presign_fn fn;
    void *arg;
    size_t n;
    atomic_size_t next; /* next job index to claim */
    size_t finished;    /* jobs done, under mu */
    unsigned active;    /* workers inside a batch: the next submit waits for 0, or a
                           late one could claim a new index with the old fn */
    int err;            /* first error, under mu */
    bool pending;       /* a batch was submitted and not yet waited for */
    unsigned n_workers;
    struct presign_worker *w;
    const struct signer *sg; /* the one the workers' copies are of */
};

static void *presign_main(void *arg)
{
    struct presign_worker *w = arg;
    struct presign_pool *p = w->pool;
    unsigned seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->gen == seen)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop)
            break;
        seen = p->gen;
        p->active++;
        presign_fn fn = p->fn;
        void *farg = p->arg;
        size_t n = p->n;
        pthread_mutex_unlock(&p->mu);
        if (n >= PRESIGN_OWN_CONTEXT_MIN && !w->moved) {
            w->moved = true;
            (void)signer_thread_own_context(&w->sg, p->sg); /* else it keeps sharing */
        }
        size_t did = 0;
        int err = 0;
        for (size_t i; (i = atomic_fetch_add(&p->next, 1)) < n; did++) {
            int rc = fn(farg, &w->sg, i);
            if (rc < 0 && !err)
                err = rc;
        }
        pthread_mutex_lock(&p->mu);
        if (err && !p->err)
            p->err = err;
        p->finished += did;
        if (--p->active == 0 && p->finished == p->n)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int presign_start(struct presign_pool **out, const struct signer *sg, unsigned threads)
{
    struct presign_pool *p = calloc(1, sizeof(*p));
    int rc = -ENOMEM;
    if (!p)
        return -ENOMEM;
    if (threads == 0)
        threads = 1;
    p->sg = sg;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    if (!(p->w = calloc(threads, sizeof(*p->w))))
        goto fail;
    for (unsigned i = 0; i < threads; i++) {
        struct presign_worker *w = &p->w[i];
        w->pool = p;
        if ((rc = signer_thread_init(&w->sg, sg)) < 0)
            goto fail;
        p->n_workers = i + 1;
        if ((rc = -pthread_create(&w->tid, NULL, presign_main, w)) < 0) {
            signer_thread_free(&w->sg);
            p->n_workers = i;
            goto fail;
        }
        w->started = true;
    }
    *out = p;
    return 0;
fail:
    presign_stop(p);
    return rc;
}

void presign_submit(struct presign_pool *p, presign_fn fn, void *arg, size_t n)
{
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->finished = 0;
    p->err = 0;
    atomic_store(&p->next, 0);
    p->pending = true;
    p->gen++;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
}

int presign_wait(struct presign_pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->pending && (p->finished < p->n || p->active > 0))
        pthread_cond_wait(&p->done, &p->mu);
    p->pending = false;
    int err = p->err;
    pthread_mutex_unlock(&p->mu);
    return err;
}

void presign_stop(struct presign_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n_workers; i++) {
        if (p->w[i].started)
            pthread_join(p->w[i].tid, NULL);
        signer_thread_free(&p->w[i].sg);
    }
    free(p->w);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
