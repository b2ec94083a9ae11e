/* A small pool of worker threads (see threadpool.h). */
#include "util/threadpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

struct task {
  struct task *next;
  void (*fn)(void *arg);
  void *arg;
};

struct threadpool {
  pthread_mutex_t mu;
  pthread_cond_t work;  /* a task was queued, or the pool stops */
  pthread_cond_t gone;  /* a worker exited */
  struct task *head, *tail;
  size_t max, threads, idle;
  unsigned idle_ms;
  bool stopping;
};

static void *worker(void *arg)
{
  struct threadpool *tp = arg;
  pthread_mutex_lock(&tp->mu);
  for (;;) {
    struct task *t = tp->head;
    if (t) {
      tp->head = t->next;
      if (!tp->head)
        tp->tail = NULL;
      pthread_mutex_unlock(&tp->mu);
      t->fn(t->arg);
      free(t);
      pthread_mutex_lock(&tp->mu);
      continue;
    }
    if (tp->stopping)
      break;
    tp->idle++;
    int r = 0;
    if (tp->idle_ms) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += tp->idle_ms / 1000;
      ts.tv_nsec += (long)(tp->idle_ms % 1000) * 1000000L;
      if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
      }
      r = pthread_cond_timedwait(&tp->work, &tp->mu, &ts);
    } else {
      pthread_cond_wait(&tp->work, &tp->mu);
    }
    tp->idle--;
    if (r == ETIMEDOUT && !tp->head)
      break;
  }
  tp->threads--;
  pthread_cond_broadcast(&tp->gone);
  pthread_mutex_unlock(&tp->mu);
  return NULL;
}

int threadpool_create(size_t max_threads, unsigned idle_ms,
                      struct threadpool **out)
{
  if (max_threads == 0)
    return -EINVAL;
  struct threadpool *tp = calloc(1, sizeof *tp);
  if (!tp)
    return -ENOMEM;
  pthread_mutex_init(&tp->mu, NULL);
  pthread_cond_init(&tp->work, NULL);
  pthread_cond_init(&tp->gone, NULL);
  tp->max = max_threads;
  tp->idle_ms = idle_ms;
  *out = tp;
  return 0;
}

int threadpool_submit(struct threadpool *tp, void (*fn)(void *arg), void *arg)
{
  struct task *t = malloc(sizeof *t);
  if (!t)
    return -ENOMEM;
  t->next = NULL;
  t->fn = fn;
  t->arg = arg;
  pthread_mutex_lock(&tp->mu);
  if (tp->stopping) {
    pthread_mutex_unlock(&tp->mu);
    free(t);
    return -ESHUTDOWN;
  }
  /* Start a worker unless an idle one will take the task. */
  size_t queued = 0;
  for (struct task *q = tp->head; q && queued <= tp->idle; q = q->next)
    queued++;
  if (queued >= tp->idle && tp->threads < tp->max) {
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, worker, tp) == 0)
      tp->threads++;
    pthread_attr_destroy(&attr);
    if (tp->threads == 0) {
      pthread_mutex_unlock(&tp->mu);
      free(t);
      return -EAGAIN;
    }
  }
  if (tp->tail)
    tp->tail->next = t;
  else
    tp->head = t;
  tp->tail = t;
  pthread_cond_signal(&tp->work);
  pthread_mutex_unlock(&tp->mu);
  return 0;
}

size_t threadpool_threads(struct threadpool *tp)
{
  pthread_mutex_lock(&tp->mu);
  size_t n = tp->threads;
  pthread_mutex_unlock(&tp->mu);
  return n;
}

void threadpool_destroy(struct threadpool *tp)
{
  if (!tp)
    return;
  pthread_mutex_lock(&tp->mu);
  tp->stopping = true;
  pthread_cond_broadcast(&tp->work);
  while (tp->threads)
    pthread_cond_wait(&tp->gone, &tp->mu);
  pthread_mutex_unlock(&tp->mu);
  /* A detached worker may still be returning from worker(): it no longer
   * touches the pool after its last unlock above. */
  pthread_cond_destroy(&tp->work);
  pthread_cond_destroy(&tp->gone);
  pthread_mutex_destroy(&tp->mu);
  free(tp);
}
