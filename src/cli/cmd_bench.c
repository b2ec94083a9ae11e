/* bench: IO of one size from several threads, reported as rbd bench does
 * (a line a second, then the totals). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

#define MAX_THREADS 256

struct bench {
  lbd_image_t *img;
  bool write, random;
  uint64_t io_size, total, slots; /* slots: io_size blocks in the image */
  const char *wbuf;
  pthread_mutex_t mu;
  pthread_cond_t done_cv;
  uint64_t issued, seq, ops, running;
  int error;
  char errmsg[1024];
};

static uint64_t next_random(uint64_t *state)
{
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL); /* splitmix64 */
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static void *worker(void *arg)
{
  struct bench *b = arg;
  uint64_t state = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&state;
  char *rbuf = b->write ? NULL : malloc(b->io_size);
  int err = b->write || rbuf ? 0 : -ENOMEM;
  for (;;) {
    pthread_mutex_lock(&b->mu);
    bool stop = err || b->error || b->issued >= b->total || cli_interrupted;
    uint64_t slot = b->random ? next_random(&state) % b->slots
                              : b->seq++ % b->slots;
    if (!stop)
      b->issued += b->io_size;
    pthread_mutex_unlock(&b->mu);
    if (stop)
      break;
    uint64_t off = slot * b->io_size;
    ssize_t n = b->write ? lbd_write(b->img, off, b->io_size, b->wbuf)
                         : lbd_read(b->img, off, b->io_size, rbuf);
    if (n != (ssize_t)b->io_size) {
      err = n < 0 ? (int)n : -EIO;
      break;
    }
    pthread_mutex_lock(&b->mu);
    b->ops++;
    pthread_mutex_unlock(&b->mu);
  }
  pthread_mutex_lock(&b->mu);
  if (err && !b->error) {
    b->error = err;
    snprintf(b->errmsg, sizeof b->errmsg, "%s", *lbd_last_error()
             ? lbd_last_error() : strerror(-err));
  }
  b->running--;
  pthread_cond_signal(&b->done_cv);
  pthread_mutex_unlock(&b->mu);
  free(rbuf);
  return NULL;
}

static double seconds(const struct timespec *a, const struct timespec *b)
{
  return (double)(b->tv_sec - a->tv_sec) +
         (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Start THREADS workers and report every second until they end. */
static int run_bench(struct ctx *c, struct bench *b, uint64_t threads)
{
  pthread_t tids[MAX_THREADS];
  struct timespec start, last, now, wake;
  clock_gettime(CLOCK_MONOTONIC, &start);
  last = start;
  uint64_t last_ops = 0, started = 0;
  pthread_mutex_lock(&b->mu);
  for (; started < threads; started++) {
    if (pthread_create(&tids[started], NULL, worker, b) != 0)
      break;
    b->running++;
  }
  printf("  SEC       OPS   OPS/SEC   BYTES/SEC\n");
  fflush(stdout);
  while (b->running) {
    clock_gettime(CLOCK_REALTIME, &wake);
    wake.tv_sec += 1;
    pthread_cond_timedwait(&b->done_cv, &b->mu, &wake);
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (b->running && seconds(&last, &now) >= 1.0) {
      double dt = seconds(&last, &now);
      printf("%5d  %8llu  %8.2f  %8.2f\n", (int)seconds(&start, &now),
             (unsigned long long)b->ops, (double)(b->ops - last_ops) / dt,
             (double)(b->ops - last_ops) * (double)b->io_size / dt);
      fflush(stdout);
      last = now;
      last_ops = b->ops;
    }
  }
  pthread_mutex_unlock(&b->mu);
  for (uint64_t i = 0; i < started; i++)
    pthread_join(tids[i], NULL);
  if (started < threads && !b->error)
    return cli_syserr(c, -EAGAIN, "starting threads");
  if (b->error) {
    fprintf(stderr, "lbd: bench: %s\n", b->errmsg);
    return b->error;
  }
  if (cli_interrupted)
    return cli_syserr(c, -EINTR, "stopped");
  int r = b->write ? lbd_flush(b->img) : 0;
  if (r < 0)
    return cli_fail(c, r, "flushing at the end");
  clock_gettime(CLOCK_MONOTONIC, &now);
  double elapsed = seconds(&start, &now);
  printf("elapsed: %5d  ops: %8llu  ops/sec: %8.2f  bytes/sec: %8.2f\n",
         (int)elapsed, (unsigned long long)b->ops, (double)b->ops / elapsed,
         (double)b->ops * (double)b->io_size / elapsed);
  return 0;
}

/* The --io-* options into B and *THREADS. */
static int bench_options(struct ctx *c, struct bench *b, uint64_t *threads)
{
  const char *type = c->val[OPT_IO_TYPE], *pattern = c->val[OPT_IO_PATTERN];
  if (!type)
    return cli_usage(c, "--io-type must be specified (read or write)");
  if (strcmp(type, "write") && strcmp(type, "read"))
    return cli_usage(c, "invalid --io-type '%s': give read or write", type);
  b->write = strcmp(type, "write") == 0;
  if (pattern && strcmp(pattern, "rand") && strcmp(pattern, "seq"))
    return cli_usage(c, "invalid --io-pattern '%s': give rand or seq",
                     pattern);
  b->random = pattern && strcmp(pattern, "rand") == 0;
  b->io_size = 4096;
  b->total = 1ULL << 30;
  *threads = 16;
  if ((opt_set(c, OPT_IO_SIZE) &&
       opt_size(c, OPT_IO_SIZE, 0, &b->io_size) < 0) ||
      (opt_set(c, OPT_IO_TOTAL) &&
       opt_size(c, OPT_IO_TOTAL, 0, &b->total) < 0) ||
      (opt_set(c, OPT_IO_THREADS) && opt_u64(c, OPT_IO_THREADS, threads) < 0))
    return -EINVAL;
  if (b->io_size == 0 || b->io_size > (1ULL << 30))
    return cli_usage(c, "--io-size must be from 1 byte to 1G");
  if (*threads == 0 || *threads > MAX_THREADS)
    return cli_usage(c, "--io-threads must be from 1 to %d", MAX_THREADS);
  return 0;
}

int cmd_bench(struct ctx *c)
{
  struct bench b;
  struct spec s;
  uint64_t threads, size;
  lbd_ioctx_t *io;
  memset(&b, 0, sizeof b);
  int r = bench_options(c, &b, &threads);
  if (r < 0 || (r = spec_image(c, SPEC_SOURCE, !b.write, &s)) < 0)
    return r;
  if ((r = args_done(c)) < 0 || (r = cli_open(c, &s, b.write, &io, &b.img))) {
    spec_free(&s);
    return r;
  }
  spec_free(&s);
  char b1[32], b2[32];
  lbd_get_size(b.img, &size);
  char *wbuf = b.write ? malloc(b.io_size) : NULL;
  if (b.io_size > size) {
    r = cli_usage(c, "io-size %s larger than image size %s",
                  fmt_bytes(b.io_size, b1, sizeof b1),
                  fmt_bytes(size, b2, sizeof b2));
  } else if (b.write && !wbuf) {
    r = cli_syserr(c, -ENOMEM, "write buffer");
  } else {
    if (wbuf)
      memset(wbuf, (int)(time(NULL) & 0xff) | 1, b.io_size);
    b.wbuf = wbuf;
    b.slots = size / b.io_size;
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.done_cv, NULL);
    printf("bench  type %s io_size %llu io_threads %llu bytes %llu pattern "
           "%s\n", b.write ? "write" : "read", (unsigned long long)b.io_size,
           (unsigned long long)threads, (unsigned long long)b.total,
           b.random ? "random" : "sequential");
    cli_catch_signals();
    r = run_bench(c, &b, threads);
    pthread_cond_destroy(&b.done_cv);
    pthread_mutex_destroy(&b.mu);
  }
  free(wbuf);
  int r2 = cli_close(c, io, b.img);
  return r < 0 ? r : r2;
}
