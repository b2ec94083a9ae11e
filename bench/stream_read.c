/* lbd-bench-stream: read a whole import source stream, as execute would.
 *
 *   lbd-bench-stream SPEC [THREADS [CHUNK_MIB]]
 *
 * SPEC is a stream object of a source-spec (e.g. {"type": "http", "url":
 * ...}); THREADS (default 8, execute's default concurrency) read CHUNK_MIB
 * (default 4, an object) pieces in turn until the end.  Prints the bytes,
 * the seconds and MiB/s.  For bench/import.sh: the stream's own speed,
 * without the writes of an import. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "source/stream.h"
#include "util/error.h"

static struct stream *s;
static atomic_ullong next;
static size_t chunk;
static atomic_int failed;

static void *reader(void *arg)
{
  (void)arg;
  char *b = malloc(chunk);
  if (!b) {
    atomic_store(&failed, 1);
    return NULL;
  }
  for (;;) {
    unsigned long long off = atomic_fetch_add(&next, chunk);
    if (off >= s->size || atomic_load(&failed))
      break;
    if (stream_read(s, off, chunk, b) < 0) {
      fprintf(stderr, "lbd-bench-stream: %s\n", lbd_last_error());
      atomic_store(&failed, 1);
      break;
    }
  }
  free(b);
  return NULL;
}

int main(int argc, char **argv)
{
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: %s SPEC [THREADS [CHUNK_MIB]]\n", argv[0]);
    return 2;
  }
  int n = argc > 2 ? atoi(argv[2]) : 8;
  chunk = (size_t)(argc > 3 ? atoi(argv[3]) : 4) << 20;
  if (n < 1 || n > 256 || chunk == 0) {
    fprintf(stderr, "lbd-bench-stream: bad THREADS or CHUNK_MIB\n");
    return 2;
  }
  json_error_t je;
  json_t *spec = json_loads(argv[1], 0, &je);
  if (!spec) {
    fprintf(stderr, "lbd-bench-stream: SPEC: %s\n", je.text);
    return 2;
  }
  int r = stream_open(spec, NULL, &s);
  json_decref(spec);
  if (r < 0) {
    fprintf(stderr, "lbd-bench-stream: %s\n", lbd_last_error());
    return 1;
  }
  pthread_t *t = calloc((size_t)n, sizeof *t);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < n; i++)
    pthread_create(&t[i], NULL, reader, NULL);
  for (int i = 0; i < n; i++)
    pthread_join(t[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double sec = (double)(t1.tv_sec - t0.tv_sec) +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("%llu bytes %.3f s %.1f MiB/s\n", (unsigned long long)s->size, sec,
         (double)s->size / 1048576.0 / sec);
  stream_close(s);
  free(t);
  return atomic_load(&failed) ? 1 : 0;
}
