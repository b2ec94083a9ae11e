/* A small pool of worker threads that run queued tasks in FIFO order.
 *
 * Workers are started on demand, up to the pool's maximum, and a worker
 * that stays idle for the pool's idle timeout exits, so an unused pool holds
 * no threads.  Tasks may submit further tasks.  threadpool_destroy() runs
 * every queued task, then waits for the workers to exit. */
#ifndef LBD_UTIL_THREADPOOL_H
#define LBD_UTIL_THREADPOOL_H

#include <stddef.h>

struct threadpool;

/* MAX_THREADS workers at most (1 or more); IDLE_MS: how long an idle worker
 * waits for work before it exits (0: never). */
int threadpool_create(size_t max_threads, unsigned idle_ms,
                      struct threadpool **out);
/* Queue FN(ARG); ENOMEM, or ESHUTDOWN once the pool is being destroyed.
 * EAGAIN if no worker could be started and none is running. */
int threadpool_submit(struct threadpool *tp, void (*fn)(void *arg), void *arg);
/* Workers running now (for tests). */
size_t threadpool_threads(struct threadpool *tp);
/* Run what is queued, wait for every worker to exit, free the pool.  Must
 * not be called from one of its own tasks. */
void threadpool_destroy(struct threadpool *tp);

#endif
