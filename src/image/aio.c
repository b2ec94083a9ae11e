/* Asynchronous IO (librbd's rbd_aio_*): each op is queued on a process-wide
 * pool of worker threads (util/threadpool.c, started on first use, up to
 * $LBD_AIO_THREADS (default 16) threads that exit when idle; about as many
 * run at once as there are CPUs, more while some wait for the disk) which
 * runs the synchronous call, then the completion's callback, exactly once,
 * even when the op fails.  Several ops run at once; like librbd, ops in flight
 * together have no order between them, except that an aio flush starts
 * only once every op submitted before it on the image has completed.
 *
 * A completion serves one op at a time, so the op and its pool task live in
 * the completion: submitting allocates nothing.  A completion is reference
 * counted: the caller's reference (dropped by lbd_aio_release, also from
 * inside the callback) and one per op in flight.  The callback runs before
 * the completion is marked complete, so lbd_aio_wait_for_complete() returns
 * only after the callback returned. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/aio.h"
#include "util/error.h"
#include "util/threadpool.h"

#define AIO_DEFAULT_THREADS 16
#define AIO_MAX_THREADS 256
#define AIO_IDLE_MS 2000

enum aio_kind { AIO_READ, AIO_WRITE, AIO_DISCARD, AIO_WRITE_ZEROES,
                AIO_FLUSH };

struct aio_image;

struct aio_op {
  struct threadpool_task task; /* queued on the pool */
  struct aio_op *prev, *next; /* in the image's list (in flight / waiting) */
  struct aio_op *ready;       /* chains flushes ready to start */
  struct aio_image *st;
  enum aio_kind kind;
  uint64_t off, len;
  void *buf;
  lbd_completion_t *c;
  uint64_t seq;
};

struct lbd_completion {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  lbd_callback_t cb;
  void *arg;
  int refs;
  bool pending; /* submitted and not complete yet */
  bool done;
  ssize_t ret;
  struct aio_op op; /* the op in flight, while pending */
  char err[LBD_ERROR_MAX];
};

/* The ops of one image: those queued or running, and flushes waiting for
 * earlier ops.  Exists while the image has ops. */
struct aio_image {
  struct aio_image *next;
  lbd_image_t *img;
  struct aio_op *running;  /* reads, writes, discards and started flushes */
  struct aio_op *waiting;  /* flushes not started yet */
  uint64_t seq;
  size_t nops;
};

static pthread_mutex_t aio_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t aio_idle = PTHREAD_COND_INITIALIZER;
static struct aio_image *aio_images;
static struct threadpool *aio_pool;

/* A child of fork() has none of its parent's threads: neither the pool's
 * workers nor the ops they ran are its own, and aio_mu may have been held
 * by one of them.  It starts afresh (the parent's pool leaks in it). */
static void aio_atfork_child(void)
{
  pthread_mutex_init(&aio_mu, NULL);
  pthread_cond_init(&aio_idle, NULL);
  aio_images = NULL;
  aio_pool = NULL;
}

static void aio_register_atfork(void)
{
  pthread_atfork(NULL, NULL, aio_atfork_child);
}

static int pool_get(struct threadpool **out)
{
  /* under aio_mu */
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, aio_register_atfork);
  if (!aio_pool) {
    size_t n = AIO_DEFAULT_THREADS;
    const char *env = getenv("LBD_AIO_THREADS");
    if (env && *env) {
      long v = strtol(env, NULL, 10);
      if (v >= 1 && v <= AIO_MAX_THREADS)
        n = (size_t)v;
    }
    int r = threadpool_create(n, AIO_IDLE_MS, &aio_pool);
    if (r < 0)
      return lbd_error(r, "starting the aio thread pool");
  }
  *out = aio_pool;
  return 0;
}

static void list_add(struct aio_op **head, struct aio_op *op)
{
  op->prev = NULL;
  op->next = *head;
  if (*head)
    (*head)->prev = op;
  *head = op;
}

static void list_del(struct aio_op **head, struct aio_op *op)
{
  if (op->prev)
    op->prev->next = op->next;
  else
    *head = op->next;
  if (op->next)
    op->next->prev = op->prev;
  op->prev = op->next = NULL;
}

static struct aio_image *image_find(lbd_image_t *img)
{
  for (struct aio_image *s = aio_images; s; s = s->next)
    if (s->img == img)
      return s;
  return NULL;
}

static void completion_put(lbd_completion_t *c)
{
  if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->mu);
    free(c);
  }
}

static void run_op(struct threadpool_task *task);

/* Under aio_mu: move the waiting flushes of S that no earlier op holds back
 * to *READY. */
static void release_flushes(struct aio_image *s, struct aio_op **ready)
{
  uint64_t oldest = UINT64_MAX;
  for (struct aio_op *o = s->running; o; o = o->next)
    if (o->seq < oldest)
      oldest = o->seq;
  struct aio_op *o = s->waiting;
  while (o) {
    struct aio_op *next = o->next;
    if (o->seq < oldest) {
      list_del(&s->waiting, o);
      list_add(&s->running, o);
      o->ready = *ready;
      *ready = o;
    }
    o = next;
  }
}

static void start_ops(struct aio_op *ready)
{
  while (ready) {
    struct aio_op *next = ready->ready;
    ready->ready = NULL;
    ready->task.fn = run_op;
    /* the pool exists: the op was queued on it before */
    if (threadpool_submit_task(aio_pool, &ready->task) < 0)
      run_op(&ready->task); /* no thread to spare: run it here */
    ready = next;
  }
}

static void run_op(struct threadpool_task *task)
{
  struct aio_op *op = (struct aio_op *)task;
  lbd_image_t *img = op->st->img;
  lbd_completion_t *c = op->c;
  ssize_t r = 0;
  lbd_error_clear();
  switch (op->kind) {
  case AIO_READ:
    r = lbd_read(img, op->off, (size_t)op->len, op->buf);
    break;
  case AIO_WRITE:
    r = lbd_write(img, op->off, (size_t)op->len, op->buf);
    break;
  case AIO_DISCARD:
    r = lbd_discard(img, op->off, op->len);
    break;
  case AIO_WRITE_ZEROES:
    r = lbd_write_zeroes(img, op->off, op->len);
    break;
  case AIO_FLUSH:
    r = lbd_flush(img);
    break;
  }
  pthread_mutex_lock(&c->mu);
  c->ret = r;
  if (r < 0)
    snprintf(c->err, sizeof c->err, "%s", lbd_last_error());
  pthread_mutex_unlock(&c->mu);
  if (c->cb)
    c->cb(c, c->arg);

  /* The op is over: start the flushes it held back.  Done with OP before
   * the completion is marked complete, which lets it serve another op. */
  struct aio_op *ready = NULL;
  pthread_mutex_lock(&aio_mu);
  struct aio_image *s = op->st;
  list_del(&s->running, op);
  if (s->waiting)
    release_flushes(s, &ready);
  if (--s->nops == 0) {
    struct aio_image **p = &aio_images;
    while (*p != s)
      p = &(*p)->next;
    *p = s->next;
    free(s);
    pthread_cond_broadcast(&aio_idle);
  }
  pthread_mutex_unlock(&aio_mu);

  pthread_mutex_lock(&c->mu);
  c->done = true;
  c->pending = false;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->mu);
  completion_put(c);
  start_ops(ready);
}

static int submit(lbd_image_t *img, enum aio_kind kind, uint64_t off,
                  uint64_t len, void *buf, lbd_completion_t *c,
                  const char *what)
{
  lbd_error_clear();
  if (!img || !c)
    return lbd_error(EINVAL, "%s: no %s given", what,
                     img ? "completion" : "image");
  if ((kind == AIO_READ || kind == AIO_WRITE) && !buf && len)
    return lbd_error(EINVAL, "%s: no buffer given", what);
  pthread_mutex_lock(&c->mu);
  if (c->pending) {
    pthread_mutex_unlock(&c->mu);
    return lbd_error(EBUSY, "%s: the completion is in use by an op in "
                     "flight", what);
  }
  c->pending = true;
  c->done = false;
  c->ret = 0;
  c->err[0] = '\0';
  __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&c->mu);
  struct aio_op *op = &c->op;
  memset(op, 0, sizeof *op);
  op->task.fn = run_op;
  op->kind = kind;
  op->off = off;
  op->len = len;
  op->buf = buf;
  op->c = c;

  struct threadpool *tp = NULL;
  pthread_mutex_lock(&aio_mu);
  int r = pool_get(&tp);
  struct aio_image *s = r < 0 ? NULL : image_find(img);
  if (r == 0 && !s) {
    if (!(s = calloc(1, sizeof *s))) {
      r = lbd_error(ENOMEM, "out of memory");
    } else {
      s->img = img;
      s->next = aio_images;
      aio_images = s;
    }
  }
  bool start = true;
  if (r == 0) {
    op->st = s;
    op->seq = ++s->seq;
    s->nops++;
    if (kind == AIO_FLUSH && s->running) {
      list_add(&s->waiting, op); /* started when the earlier ops are done */
      start = false;
    } else {
      list_add(&s->running, op);
    }
  }
  pthread_mutex_unlock(&aio_mu);
  if (r == 0 && start && threadpool_submit_task(tp, &op->task) < 0) {
    /* no worker: run it in this thread, still exactly once */
    run_op(&op->task);
    return 0;
  }
  if (r < 0) {
    pthread_mutex_lock(&c->mu);
    c->pending = false;
    pthread_mutex_unlock(&c->mu);
    completion_put(c);
    return lbd_error_prefix(r, "%s", what);
  }
  return 0;
}

int lbd_aio_create_completion(lbd_callback_t cb, void *arg,
                              lbd_completion_t **out)
{
  lbd_error_clear();
  if (!out)
    return lbd_error(EINVAL, "creating an aio completion: nowhere to put it");
  lbd_completion_t *c = calloc(1, sizeof *c);
  if (!c)
    return lbd_error(ENOMEM, "out of memory");
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cond, NULL);
  c->cb = cb;
  c->arg = arg;
  c->refs = 1;
  *out = c;
  return 0;
}

int lbd_aio_read(lbd_image_t *image, uint64_t off, size_t len, void *buf,
                 lbd_completion_t *c)
{
  return submit(image, AIO_READ, off, len, buf, c, "aio read");
}

int lbd_aio_write(lbd_image_t *image, uint64_t off, size_t len,
                  const void *buf, lbd_completion_t *c)
{
  return submit(image, AIO_WRITE, off, len, (void *)buf, c, "aio write");
}

int lbd_aio_discard(lbd_image_t *image, uint64_t off, uint64_t len,
                    lbd_completion_t *c)
{
  return submit(image, AIO_DISCARD, off, len, NULL, c, "aio discard");
}

int lbd_aio_write_zeroes(lbd_image_t *image, uint64_t off, uint64_t len,
                         lbd_completion_t *c)
{
  return submit(image, AIO_WRITE_ZEROES, off, len, NULL, c,
                "aio write_zeroes");
}

int lbd_aio_flush(lbd_image_t *image, lbd_completion_t *c)
{
  return submit(image, AIO_FLUSH, 0, 0, NULL, c, "aio flush");
}

int lbd_aio_wait_for_complete(lbd_completion_t *c)
{
  lbd_error_clear();
  if (!c)
    return lbd_error(EINVAL, "waiting for an aio completion: none given");
  pthread_mutex_lock(&c->mu);
  if (!c->pending && !c->done) {
    pthread_mutex_unlock(&c->mu);
    return lbd_error(EINVAL, "waiting for an aio completion that was never "
                     "submitted");
  }
  while (!c->done)
    pthread_cond_wait(&c->cond, &c->mu);
  pthread_mutex_unlock(&c->mu);
  return 0;
}

bool lbd_aio_is_complete(lbd_completion_t *c)
{
  if (!c)
    return false;
  pthread_mutex_lock(&c->mu);
  bool done = c->done;
  pthread_mutex_unlock(&c->mu);
  return done;
}

ssize_t lbd_aio_get_return_value(lbd_completion_t *c)
{
  if (!c)
    return lbd_error(EINVAL, "aio return value: no completion given");
  pthread_mutex_lock(&c->mu);
  ssize_t r = c->ret;
  pthread_mutex_unlock(&c->mu);
  return r;
}

const char *lbd_aio_get_error(lbd_completion_t *c)
{
  /* stable once complete: only a new submission rewrites it */
  return c ? c->err : "";
}

void lbd_aio_release(lbd_completion_t *c)
{
  if (c)
    completion_put(c);
}

void image_aio_drain(struct lbd_image *img)
{
  pthread_mutex_lock(&aio_mu);
  while (image_find(img))
    pthread_cond_wait(&aio_idle, &aio_mu);
  pthread_mutex_unlock(&aio_mu);
}
