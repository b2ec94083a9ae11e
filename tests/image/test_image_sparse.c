/* Sparseness: a 1 GiB image with 1% of it written in scattered 64 KiB
 * chunks takes about 1% of its size on disk (under 2%: the allocated blocks
 * of the regular files under the pool's path, as du counts them), and
 * discarding gives the space back: chunk by chunk, by write_zeroes, and by
 * one discard of the whole image (each freeing at least 80% of what was
 * written).  For the default layout, a striped one and 64 KiB objects. */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "../objstore/fixture.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define IMAGE_SIZE ((uint64_t)GiB)
#define CHUNK (64 * KiB)

static uint64_t du_total;

static int du_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
  (void)path;
  (void)ftw;
  if (flag == FTW_F && S_ISREG(st->st_mode))
    du_total += (uint64_t)st->st_blocks * 512;
  return 0;
}

/* Bytes allocated to regular files under the path of POOL. */
static uint64_t pool_usage(lbd_cluster_t *c, const char *pool)
{
  struct lbd_pool_info *pools;
  size_t n;
  assert_ok(lbd_pool_list(c, &pools, &n));
  const char *path = NULL;
  for (size_t i = 0; i < n; i++)
    if (strcmp(pools[i].name, pool) == 0)
      path = pools[i].path;
  if (!path)
    fail_msg("pool %s has no path in lbd_pool_list", pool);
  du_total = 0;
  assert_int_equal(nftw(path, du_one, 16, FTW_PHYS), 0);
  lbd_pool_list_free(pools, n);
  return du_total;
}

static void shuffle(uint64_t *v, size_t n, uint64_t *rng)
{
  for (size_t i = n - 1; i > 0; i--) {
    *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
    size_t j = (size_t)((*rng >> 33) % (i + 1));
    uint64_t t = v[i];
    v[i] = v[j];
    v[j] = t;
  }
}

/* What a run holds, released by the teardown even when the test fails. */
static char *tmp;
static lbd_cluster_t *c;
static lbd_ioctx_t *io;
static lbd_image_t *img;
static uint64_t *slot;

static int teardown(void **state)
{
  (void)state;
  if (img)
    lbd_close(img);
  lbd_ioctx_destroy(io);
  lbd_cluster_close(c);
  free(slot);
  img = NULL;
  io = NULL;
  c = NULL;
  slot = NULL;
  if (tmp && !getenv("LBD_TEST_KEEP"))
    fixture_rm_rf(tmp);
  free(tmp);
  tmp = NULL;
  return 0;
}

static void run(const char *what, const struct lbd_image_options *opts)
{
  tmp = fixture_mkdtemp("image-sparse");
  assert_non_null(tmp);
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/cluster", tmp);
  assert_ok(lbd_cluster_open(dir, true, &c));
  assert_ok(lbd_ioctx_create(c, "rbd", NULL, &io));
  assert_ok(lbd_create(io, "sparse", opts));
  assert_ok(lbd_open(io, "sparse", NULL, 0, &img));
  uint64_t base = pool_usage(c, "rbd");

  /* 1% of the image in 64 KiB chunks at scattered chunk-aligned places. */
  size_t nchunks = (size_t)(IMAGE_SIZE / 100 / CHUNK); /* 163 */
  size_t slots = (size_t)(IMAGE_SIZE / CHUNK);
  slot = malloc(slots * sizeof *slot);
  assert_non_null(slot);
  for (size_t i = 0; i < slots; i++)
    slot[i] = i;
  uint64_t rng = 12345;
  shuffle(slot, slots, &rng);
  static unsigned char buf[CHUNK];
  for (size_t i = 0; i < nchunks; i++) {
    memset(buf, (int)(i % 255) + 1, sizeof buf);
    assert_int_equal(lbd_write(img, slot[i] * CHUNK, CHUNK, buf), CHUNK);
  }
  assert_ok(lbd_flush(img));
  uint64_t written = (uint64_t)nchunks * CHUNK;
  uint64_t used = pool_usage(c, "rbd");
  printf("%s: %zu chunks, %" PRIu64 " bytes written; pool uses %" PRIu64
         " bytes (%.2f%% of %" PRIu64 "), %" PRIu64 " before\n", what,
         nchunks, written, used, 100.0 * (double)used / (double)IMAGE_SIZE,
         IMAGE_SIZE, base);
  if (used >= IMAGE_SIZE / 50)
    fail_msg("%s: %" PRIu64 " bytes on disk for %" PRIu64 " written: over 2%%"
             " of the %" PRIu64 "-byte image", what, used, written,
             IMAGE_SIZE);
  /* The data is really there (the count is not of empty files). */
  assert_true(used >= base + written * 9 / 10);
  unsigned char got[CHUNK];
  for (size_t i = 0; i < nchunks; i += 17) {
    assert_int_equal(lbd_read(img, slot[i] * CHUNK, CHUNK, got), CHUNK);
    assert_int_equal(got[0], (i % 255) + 1);
    assert_int_equal(got[CHUNK - 1], (i % 255) + 1);
  }

  /* Discard half of the chunks one by one: about their size is freed. */
  for (size_t i = 0; i < nchunks; i += 2)
    assert_ok(lbd_discard(img, slot[i] * CHUNK, CHUNK));
  assert_ok(lbd_flush(img));
  uint64_t discarded = (uint64_t)((nchunks + 1) / 2) * CHUNK;
  uint64_t half = pool_usage(c, "rbd");
  printf("%s: after discarding %" PRIu64 " bytes in chunks the pool uses %"
         PRIu64 " bytes\n", what, discarded, half);
  if (half + discarded * 8 / 10 > used)
    fail_msg("%s: discarding %" PRIu64 " bytes in 64 KiB pieces freed only %"
             PRId64 " bytes (%" PRIu64 " -> %" PRIu64 ")", what, discarded,
             (int64_t)(used - half), used, half);
  for (size_t i = 0; i < nchunks; i++) {
    assert_int_equal(lbd_read(img, slot[i] * CHUNK, CHUNK, got), CHUNK);
    unsigned char want = i % 2 ? (unsigned char)((i % 255) + 1) : 0;
    if (got[0] != want || got[CHUNK - 1] != want)
      fail_msg("%s: chunk %zu reads %u, want %u", what, i, got[0], want);
  }

  /* Write zeroes over the rest: the space of every chunk is given back
   * (what stays is the store's own metadata). */
  for (size_t i = 1; i < nchunks; i += 2)
    assert_ok(lbd_write_zeroes(img, slot[i] * CHUNK, CHUNK));
  assert_ok(lbd_flush(img));
  uint64_t none = pool_usage(c, "rbd");
  printf("%s: after zeroing the rest the pool uses %" PRIu64 " bytes\n", what,
         none);
  if (none + written * 8 / 10 > used)
    fail_msg("%s: with every chunk discarded or zeroed the pool uses %" PRIu64
             " bytes, %" PRIu64 " with them written: under 80%% of the %"
             PRIu64 " bytes written was freed", what, none, used, written);

  /* Rewrite, then discard the whole image at once: as much is freed. */
  for (size_t i = 0; i < nchunks; i++)
    assert_int_equal(lbd_write(img, slot[i] * CHUNK, CHUNK, buf), CHUNK);
  assert_ok(lbd_flush(img));
  uint64_t again = pool_usage(c, "rbd");
  assert_ok(lbd_discard(img, 0, IMAGE_SIZE));
  assert_ok(lbd_flush(img));
  none = pool_usage(c, "rbd");
  printf("%s: rewritten the pool uses %" PRIu64 " bytes, after discarding "
         "the whole image %" PRIu64 "\n", what, again, none);
  if (none + written * 8 / 10 > again)
    fail_msg("%s: discarding the whole image took the pool from %" PRIu64
             " to %" PRIu64 " bytes: under 80%% of the %" PRIu64 " bytes "
             "written was freed", what, again, none, written);
  for (size_t i = 0; i < nchunks; i += 7) {
    assert_int_equal(lbd_read(img, slot[i] * CHUNK, CHUNK, got), CHUNK);
    for (size_t k = 0; k < CHUNK; k++)
      if (got[k])
        fail_msg("%s: byte %zu of discarded chunk %zu is %u", what, k, i,
                 got[k]);
  }

  lbd_image_t *closing = img;
  img = NULL;
  assert_ok(lbd_close(closing));
  assert_ok(lbd_remove(io, "sparse"));
}

static void test_sparse_default(void **state)
{
  (void)state;
  struct lbd_image_options o = {.size = IMAGE_SIZE};
  run("default layout", &o);
}

static void test_sparse_striped(void **state)
{
  (void)state;
  /* Each 64 KiB chunk spans 2 objects. */
  struct lbd_image_options o = {.size = IMAGE_SIZE,
                                .object_size = 256 * KiB,
                                .stripe_unit = 32 * KiB,
                                .stripe_count = 4};
  run("os 256K su 32K sc 4", &o);
}

static void test_sparse_64k_objects(void **state)
{
  (void)state;
  /* Each 64 KiB chunk is one whole object. */
  struct lbd_image_options o = {.size = IMAGE_SIZE,
                                .object_size = 64 * KiB};
  run("os 64K", &o);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_sparse_default, teardown),
      cmocka_unit_test_teardown(test_sparse_striped, teardown),
      cmocka_unit_test_teardown(test_sparse_64k_objects, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
