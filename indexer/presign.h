/*
 * presign — the indexer's signing threads. Pre-signing every response is the
 * cost of an import (two signatures a certificate), so it runs on every core:
 * each thread has its own signing contexts over the one key
 * (signer_thread_init()), moved into its own OpenSSL library context on the
 * first bulk batch (signer_thread_own_context(); a live change's few signatures
 * do not pay its set-up), takes the next job of the current batch with an atomic
 * counter, and the caller (the one store writer) commits results in key order
 * while the threads sign the next batch.
 *
 * Ownership: presign_start() returns a pool presign_stop() joins and frees; the
 * signer outlives the pool.
 */
#ifndef REVOKD_PRESIGN_H
#define REVOKD_PRESIGN_H

#include <stddef.h>

#include "sign.h"

struct presign_pool;

/* Signs job i of the batch with the calling thread's signer; returns 0 or -errno. */
typedef int (*presign_fn)(void *arg, const struct signer *sg, size_t i);

/* Starts `threads` (>= 1) signing threads over sg. Returns 0 or a negative errno. */
int presign_start(struct presign_pool **out, const struct signer *sg, unsigned threads);
/* Hands jobs 0..n-1 to the threads and returns at once; one batch at a time. */
void presign_submit(struct presign_pool *p, presign_fn fn, void *arg, size_t n);
/* Waits until the submitted batch is signed; returns the first job error or 0. */
int presign_wait(struct presign_pool *p);
void presign_stop(struct presign_pool *p);

#endif
