/* A small pool of worker threads (see threadpool.h).
 *
 * Each idle worker sleeps on a futex word of its own, on a stack of idle
 * workers: a submission pops one and wakes it after releasing the pool's
 * lock, so no wake-up is ever spent on a worker another submission already
 * woke, nor on a lock the woken worker would wait for at once; a worker
 * that finds more tasks queued after one runs them without sleeping.
 *
 * How many run: a submission wakes (or starts) a worker only while fewer
 * workers are running than there are CPUs, and fewer than the tasks
 * queued.  A worker that has been on its task for a while (STUCK_NS)
 * counts as waiting (for the disk, most likely), not running, so that slow
 * tasks still run side by side up to the pool's maximum, while quick ones
 * (page-cache IO) keep as many workers busy as there are CPUs and no more:
 * more would only take turns on the CPUs, and wake and sleep for it. */
#include "util/threadpool.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define STUCK_NS 100000 /* 100 us */

/* A worker's state; slots belong to the pool, so that a wake-up sent
 * after the pool's lock is released never touches freed memory. */
struct worker {
  struct worker *next;      /* all workers */
  struct worker *next_idle; /* the idle stack */
  uint32_t wake;            /* futex word: 1 once woken */
  bool used;   /* the slot belongs to a live worker */
  bool idle;
  bool woken;  /* popped from the idle stack by a submission or destroy */
  bool busy;   /* running a task, since SINCE */
  uint64_t since;
};

struct threadpool {
  pthread_mutex_t mu;
  pthread_cond_t gone;  /* a worker exited */
  struct threadpool_task *head, *tail;
  size_t queued;        /* tasks in the queue */
  struct worker *slots;  /* [max] */
  struct worker *all;
  struct worker *idle;  /* stack of idle workers, the latest first */
  size_t max, threads, cpus;
  unsigned idle_ms;
  bool stopping;
};

struct malloced_task {
  struct threadpool_task task; /* first */
  void (*fn)(void *arg);
  void *arg;
};

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wake W, popped from the idle stack (under mu, which may be released
 * since: W's slot outlives W). */
static void wake_worker(struct worker *w)
{
  __atomic_store_n(&w->wake, 1, __ATOMIC_RELEASE);
  syscall(SYS_futex, &w->wake, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Under mu: sleep until woken or timed out (a futex word of our own, with
 * mu released: the waker need not hand mu over); false if we should exit. */
static bool worker_idle(struct threadpool *tp, struct worker *me)
{
  me->next_idle = tp->idle;
  me->idle = true;
  me->woken = false;
  tp->idle = me;
  uint64_t end = tp->idle_ms ? now_ns() + (uint64_t)tp->idle_ms * 1000000u
                             : 0;
  for (;;) {
    /* Under mu: only a submission holding mu pops us and sets the word. */
    __atomic_store_n(&me->wake, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&tp->mu);
    bool timed_out = false;
    while (!__atomic_load_n(&me->wake, __ATOMIC_ACQUIRE)) {
      struct timespec rel, *timeout = NULL;
      if (end) {
        uint64_t now = now_ns();
        if (now >= end) {
          timed_out = true;
          break;
        }
        rel.tv_sec = (time_t)((end - now) / 1000000000u);
        rel.tv_nsec = (long)((end - now) % 1000000000u);
        timeout = &rel;
      }
      syscall(SYS_futex, &me->wake, FUTEX_WAIT_PRIVATE, 0, timeout, NULL, 0);
    }
    pthread_mutex_lock(&tp->mu);
    if (me->woken)
      break;
    if (timed_out) { /* leave the stack */
      for (struct worker **p = &tp->idle; *p; p = &(*p)->next_idle) {
        if (*p == me) {
          *p = me->next_idle;
          break;
        }
      }
      break;
    }
    /* a late wake-up meant for the slot's previous worker: sleep on */
  }
  me->idle = false;
  return me->woken || tp->head;
}

static void *worker_main(void *arg)
{
  struct threadpool *tp = arg;
  pthread_mutex_lock(&tp->mu);
  struct worker *w = tp->slots;
  while (w->used) /* there is a free one: threads <= max */
    w++;
  memset(w, 0, sizeof *w);
  w->used = true;
  w->next = tp->all;
  tp->all = w;
  for (;;) {
    struct threadpool_task *t = tp->head;
    if (t) {
      tp->head = t->next;
      if (!tp->head)
        tp->tail = NULL;
      tp->queued--;
      w->busy = true;
      w->since = now_ns();
      pthread_mutex_unlock(&tp->mu);
      t->fn(t);
      pthread_mutex_lock(&tp->mu);
      w->busy = false;
      continue;
    }
    if (tp->stopping || !worker_idle(tp, w))
      break;
  }
  for (struct worker **p = &tp->all; *p; p = &(*p)->next) {
    if (*p == w) {
      *p = w->next;
      break;
    }
  }
  w->used = false;
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
  if (tp && !(tp->slots = calloc(max_threads, sizeof *tp->slots))) {
    free(tp);
    tp = NULL;
  }
  if (!tp)
    return -ENOMEM;
  pthread_mutex_init(&tp->mu, NULL);
  pthread_cond_init(&tp->gone, NULL);
  tp->max = max_threads;
  /* At least two: a task that waits for another it queued still sees it
   * run on a single CPU. */
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  tp->cpus = cpus > 2 ? (size_t)cpus : 2;
#ifdef CAP_EXTRA
  tp->cpus += CAP_EXTRA;
#endif
  tp->idle_ms = idle_ms;
  *out = tp;
  return 0;
}

/* Under mu: should a submission wake or start a worker for its task? */
static bool want_worker(struct threadpool *tp)
{
  uint64_t now = 0;
  size_t running = 0;
  for (struct worker *w = tp->all; w; w = w->next) {
    if (w->idle && !w->woken)
      continue;
    if (w->busy) {
      if (!now)
        now = now_ns();
      if (now - w->since > STUCK_NS)
        continue; /* waiting for something, most likely */
    }
    running++;
  }
  /* Workers being started count too: they are not on the list yet. */
  size_t listed = 0;
  for (struct worker *w = tp->all; w; w = w->next)
    listed++;
  running += tp->threads - listed;
  return running < tp->cpus && running < tp->queued + 1;
}

int threadpool_submit_task(struct threadpool *tp, struct threadpool_task *t)
{
  t->next = NULL;
  pthread_mutex_lock(&tp->mu);
  if (tp->stopping) {
    pthread_mutex_unlock(&tp->mu);
    return -ESHUTDOWN;
  }
  struct worker *wake = NULL;
  if (tp->threads == 0 || want_worker(tp)) {
    if (tp->idle) {
      wake = tp->idle;
      tp->idle = wake->next_idle;
      wake->woken = true;
    } else if (tp->threads < tp->max) {
      pthread_t th;
      pthread_attr_t attr;
      pthread_attr_init(&attr);
      pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
      if (pthread_create(&th, &attr, worker_main, tp) == 0)
        tp->threads++;
      pthread_attr_destroy(&attr);
    }
  }
  if (tp->threads == 0) {
    pthread_mutex_unlock(&tp->mu);
    return -EAGAIN;
  }
  if (tp->tail)
    tp->tail->next = t;
  else
    tp->head = t;
  tp->tail = t;
  tp->queued++;
  pthread_mutex_unlock(&tp->mu);
  if (wake)
    wake_worker(wake);
  return 0;
}

static void run_malloced(struct threadpool_task *task)
{
  struct malloced_task *m = (struct malloced_task *)task;
  void (*fn)(void *) = m->fn;
  void *arg = m->arg;
  free(m);
  fn(arg);
}

int threadpool_submit(struct threadpool *tp, void (*fn)(void *arg), void *arg)
{
  struct malloced_task *m = malloc(sizeof *m);
  if (!m)
    return -ENOMEM;
  m->task.fn = run_malloced;
  m->fn = fn;
  m->arg = arg;
  int r = threadpool_submit_task(tp, &m->task);
  if (r < 0)
    free(m);
  return r;
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
  while (tp->idle) { /* each runs what is queued, then exits */
    struct worker *w = tp->idle;
    tp->idle = w->next_idle;
    w->woken = true;
    wake_worker(w);
  }
  while (tp->threads)
    pthread_cond_wait(&tp->gone, &tp->mu);
  pthread_mutex_unlock(&tp->mu);
  /* A detached worker may still be returning from worker_main(): it no
   * longer touches the pool after its last unlock above. */
  pthread_cond_destroy(&tp->gone);
  pthread_mutex_destroy(&tp->mu);
  free(tp->slots);
  free(tp);
}
