/* A small pool of worker threads that run queued tasks in FIFO order.
 *
 * Workers are started on demand, up to the pool's maximum, and a worker
 * that stays idle for the pool's idle timeout exits, so an unused pool holds
 * no threads.  A worker runs queued tasks one after the other without
 * sleeping; a submission wakes one idle worker (the one idle the shortest
 * time), or starts one, only if there is one to wake or room to start, so a
 * busy pool takes tasks with no system call.  Tasks may submit further
 * tasks.  threadpool_destroy() runs every queued task, then waits for the
 * workers to exit. */
#ifndef LBD_UTIL_THREADPOOL_H
#define LBD_UTIL_THREADPOOL_H

#include <stddef.h>

struct threadpool;

/* A task the caller allocates (e.g. inside its own request), so that
 * queueing it allocates nothing.  FN runs once, on a worker; the task's
 * memory is the caller's again when FN starts. */
struct threadpool_task {
  struct threadpool_task *next; /* the pool's */
  void (*fn)(struct threadpool_task *task);
};

/* MAX_THREADS workers at most (1 or more); IDLE_MS: how long an idle worker
 * waits for work before it exits (0: never). */
int threadpool_create(size_t max_threads, unsigned idle_ms,
                      struct threadpool **out);
/* Queue TASK; ESHUTDOWN once the pool is being destroyed, EAGAIN if no
 * worker could be started and none is running. */
int threadpool_submit_task(struct threadpool *tp, struct threadpool_task *task);
/* Queue FN(ARG) (allocates its task: ENOMEM), as threadpool_submit_task. */
int threadpool_submit(struct threadpool *tp, void (*fn)(void *arg), void *arg);
/* Workers running now (for tests). */
size_t threadpool_threads(struct threadpool *tp);
/* Run what is queued, wait for every worker to exit, free the pool.  Must
 * not be called from one of its own tasks. */
void threadpool_destroy(struct threadpool *tp);

#endif
