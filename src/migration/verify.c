/* lbd migration verify: does the target still need its source?  For the
 * head and every snapshot, the target read as clients see it (its own
 * objects, else the source) must equal the target read from its own
 * objects alone (else, for a clone keeping its parent, that parent).  Client writes since prepare do not count as differences
 * (they are the target's own); a byte that only the source holds does. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "migration/migration_int.h"
#include "util/error.h"

#define CHUNK (4ULL << 20)
#define THREADS 4

struct verify {
  lbd_image_t *with, *without; /* with and without the backing */
  uint64_t size, next, done, total_done, total;
  uint64_t first_diff;         /* UINT64_MAX: none yet */
  int error;
  char message[LBD_ERROR_MAX];
  pthread_mutex_t mu;
  lbd_progress_fn_t progress;
  void *arg;
};

/* The first differing byte of [OFF, OFF+LEN), or UINT64_MAX. */
static int compare_chunk(struct verify *v, uint64_t off, uint64_t len,
                         char *a, char *b, uint64_t *diff)
{
  *diff = UINT64_MAX;
  ssize_t n = lbd_read(v->with, off, len, a);
  ssize_t m = n < 0 ? n : lbd_read(v->without, off, len, b);
  if (m < 0)
    return (int)m;
  if (memcmp(a, b, len) != 0)
    for (uint64_t i = 0; i < len; i++)
      if (a[i] != b[i]) {
        *diff = off + i;
        break;
      }
  return 0;
}

static void *verify_worker(void *arg)
{
  struct verify *v = arg;
  char *a = malloc(CHUNK), *b = malloc(CHUNK);
  for (;;) {
    pthread_mutex_lock(&v->mu);
    uint64_t off = v->next;
    v->next += CHUNK;
    bool stop = !a || !b || v->error || off >= v->size ||
                off > v->first_diff;
    pthread_mutex_unlock(&v->mu);
    if (stop)
      break;
    uint64_t len = v->size - off < CHUNK ? v->size - off : CHUNK, diff;
    int r = compare_chunk(v, off, len, a, b, &diff);
    pthread_mutex_lock(&v->mu);
    if (r < 0 && !v->error) {
      v->error = r;
      snprintf(v->message, sizeof v->message, "%s", lbd_last_error());
    }
    if (diff < v->first_diff)
      v->first_diff = diff;
    v->total_done += len;
    if (v->progress && v->progress(v->total_done, v->total, v->arg) &&
        !v->error)
      v->error = lbd_error(ECANCELED, "stopped");
    pthread_mutex_unlock(&v->mu);
  }
  if (!a || !b) {
    pthread_mutex_lock(&v->mu);
    if (!v->error)
      v->error = lbd_error(ENOMEM, "out of memory");
    pthread_mutex_unlock(&v->mu);
  }
  free(a);
  free(b);
  return NULL;
}

/* Compare one version (SNAP NULL: the head); *DIFF the first difference. */
static int verify_one(struct pair *p, const char *snap, struct verify *v,
                      uint64_t *diff)
{
  int r = image_open(p->dst_io, NULL, p->dst_id, snap, OBJSTORE_SNAP_HEAD,
                     LBD_OPEN_READ_ONLY, 0, &v->with);
  if (r == 0)
    r = image_open(p->dst_io, NULL, p->dst_id, snap, OBJSTORE_SNAP_HEAD,
                   LBD_OPEN_READ_ONLY | IMAGE_OPEN_NO_SOURCE, 0,
                   &v->without);
  if (r == 0) {
    lbd_get_size(v->with, &v->size);
    v->next = 0;
    v->first_diff = UINT64_MAX;
    pthread_t t[THREADS];
    size_t started = 0;
    for (; started < THREADS; started++)
      if (pthread_create(&t[started], NULL, verify_worker, v) != 0)
        break;
    if (!started)
      verify_worker(v);
    for (size_t i = 0; i < started; i++)
      pthread_join(t[i], NULL);
    *diff = v->first_diff;
    if (v->error)
      r = lbd_error(v->error, "%s", v->message);
  }
  lbd_close(v->without);
  lbd_close(v->with);
  v->with = v->without = NULL;
  return r;
}

int lbd_migration_verify(lbd_ioctx_t *io, const char *image,
                         lbd_progress_fn_t progress, void *arg)
{
  lbd_error_clear();
  struct pair p;
  int r = pair_find(io, image, &p);
  if (r < 0)
    return lbd_error_prefix(r, "verifying the migration of %s", image);
  struct lbd_snap_info *snaps = NULL;
  size_t n = 0;
  char oid[64];
  snprintf(oid, sizeof oid, IMAGE_HEADER_PREFIX "%s", p.dst_id);
  if (!p.have_dst)
    r = lbd_error(ENOENT, "the target of %s is gone", image);
  if (r == 0)
    r = image_snaps_read(p.dst_io->pool, oid, &snaps, &n);
  struct verify v = {.progress = progress, .arg = arg};
  pthread_mutex_init(&v.mu, NULL);
  v.total = p.dst.size;
  for (size_t i = 0; i < n; i++)
    v.total += snaps[i].size;
  for (size_t i = 0; r == 0 && i <= n; i++) {
    const char *snap = i < n ? snaps[i].name : NULL;
    uint64_t diff;
    if ((r = verify_one(&p, snap, &v, &diff)) == 0 && diff != UINT64_MAX)
      r = lbd_error(EILSEQ, "%s%s%s differs at byte %" PRIu64 ": the target "
                    "still needs its source there (run 'lbd migration "
                    "execute')", image, snap ? "@" : "", snap ? snap : "",
                    diff);
  }
  pthread_mutex_destroy(&v.mu);
  free(snaps);
  pair_free(&p);
  return r < 0 ? lbd_error_prefix(r, "verifying the migration of %s", image)
               : 0;
}
