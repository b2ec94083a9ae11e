/* Striping against an independent reference.
 *
 * The reference does not use the closed formula of striping.h.  It lays the
 * stripe units of one object set (one "period", object_size * stripe_count
 * bytes of the image) out the way Ceph's Striper fills objects: row after
 * row, and inside a row one stripe unit to each object of the set in turn.
 * That walk gives a table unit-of-period -> (object of the set, row), and
 * its inverse; every period repeats it with the next stripe_count objects.
 * Extents are found by walking the range one stripe unit at a time and
 * merging runs that continue in the same object, and object counts by
 * walking every unit of the image (or, for huge images, with Ceph's own
 * get_num_objects() arithmetic). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "image/striping.h"
#include "util/error.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define PiB (1ULL << 50)

/* ---- a tiny deterministic generator ----------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n) { return n ? rnd() % n : 0; }

/* ---- the reference ------------------------------------------------------ */

struct ref {
  struct striping s;
  uint64_t period;      /* bytes of the image per object set */
  uint64_t units;       /* stripe units per period */
  uint64_t *unit_obj;   /* unit of the period -> object of the set */
  uint64_t *unit_row;   /* unit of the period -> row (unit inside object) */
  uint64_t *cell_unit;  /* object of the set * rows + row -> unit */
};

static struct ref *ref_new(uint64_t os, uint64_t su, uint64_t sc)
{
  struct ref *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->s = (struct striping){os, su, sc};
  r->period = os * sc;
  r->units = r->period / su;
  uint64_t rows = os / su;
  r->unit_obj = calloc(r->units, sizeof *r->unit_obj);
  r->unit_row = calloc(r->units, sizeof *r->unit_row);
  r->cell_unit = calloc(r->units, sizeof *r->cell_unit);
  assert_non_null(r->unit_obj);
  assert_non_null(r->unit_row);
  assert_non_null(r->cell_unit);
  /* Fill the objects of one set as the Striper does. */
  uint64_t u = 0;
  for (uint64_t row = 0; row < rows; row++)
    for (uint64_t obj = 0; obj < sc; obj++) {
      r->unit_obj[u] = obj;
      r->unit_row[u] = row;
      r->cell_unit[obj * rows + row] = u;
      u++;
    }
  assert_int_equal(u, r->units);
  return r;
}

static void ref_free(struct ref *r)
{
  free(r->unit_obj);
  free(r->unit_row);
  free(r->cell_unit);
  free(r);
}

static void ref_locate(const struct ref *r, uint64_t off, uint64_t *objectno,
                       uint64_t *objoff)
{
  uint64_t set = off / r->period, in = off % r->period;
  uint64_t u = in / r->s.stripe_unit;
  *objectno = set * r->s.stripe_count + r->unit_obj[u];
  *objoff = r->unit_row[u] * r->s.stripe_unit + in % r->s.stripe_unit;
}

static uint64_t ref_image_offset(const struct ref *r, uint64_t objectno,
                                 uint64_t objoff)
{
  uint64_t rows = r->s.object_size / r->s.stripe_unit;
  uint64_t set = objectno / r->s.stripe_count;
  uint64_t obj = objectno % r->s.stripe_count;
  uint64_t u = r->cell_unit[obj * rows + objoff / r->s.stripe_unit];
  return set * r->period + u * r->s.stripe_unit + objoff % r->s.stripe_unit;
}

struct extents {
  struct object_extent *v;
  size_t n, cap;
};

static void ext_push(struct extents *e, const struct object_extent *x)
{
  if (e->n == e->cap) {
    e->cap = e->cap ? 2 * e->cap : 16;
    e->v = realloc(e->v, e->cap * sizeof *e->v);
    assert_non_null(e->v);
  }
  e->v[e->n++] = *x;
}

/* Walk [off, off+len) unit by unit; merge a unit run into the previous
 * piece when it continues it in the same object. */
static void ref_map(const struct ref *r, uint64_t off, uint64_t len,
                    struct extents *out)
{
  uint64_t end = off + len;
  while (off < end) {
    uint64_t unit_end = (off / r->s.stripe_unit + 1) * r->s.stripe_unit;
    uint64_t stop = unit_end < end ? unit_end : end;
    uint64_t objectno, objoff;
    ref_locate(r, off, &objectno, &objoff);
    struct object_extent *last = out->n ? &out->v[out->n - 1] : NULL;
    if (last && last->objectno == objectno && last->off + last->len == objoff)
      last->len += stop - off;
    else
      ext_push(out, &(struct object_extent){objectno, objoff, stop - off,
                                           off});
    off = stop;
  }
}

/* Objects spanned by an image of SIZE bytes, walking every unit. */
static uint64_t ref_object_count_walk(const struct ref *r, uint64_t size)
{
  uint64_t max = 0;
  bool any = false;
  for (uint64_t off = 0; off < size; off += r->s.stripe_unit) {
    uint64_t o, x;
    ref_locate(r, off, &o, &x);
    if (!any || o + 1 > max)
      max = o + 1;
    any = true;
  }
  return max;
}

/* Ceph's Striper::get_num_objects(). */
static uint64_t ceph_num_objects(const struct striping *s, uint64_t size)
{
  uint64_t period = s->object_size * s->stripe_count;
  uint64_t num_periods = (size + period - 1) / period;
  uint64_t remainder_bytes = size % period;
  uint64_t remainder_objs = 0;
  if (remainder_bytes > 0 &&
      remainder_bytes < s->stripe_count * s->stripe_unit)
    remainder_objs = s->stripe_count -
                     (remainder_bytes + s->stripe_unit - 1) / s->stripe_unit;
  return num_periods * s->stripe_count - remainder_objs;
}

/* ---- the code under test, collected ------------------------------------- */

static int collect(const struct object_extent *ext, void *arg)
{
  ext_push(arg, ext);
  return 0;
}

static void check_map(const struct ref *r, uint64_t off, uint64_t len)
{
  struct extents want = {0}, got = {0};
  ref_map(r, off, len, &want);
  int ret = striping_map(&r->s, off, len, collect, &got);
  assert_int_equal(ret, 0);
  bool same = want.n == got.n;
  for (size_t i = 0; same && i < want.n; i++)
    same = want.v[i].objectno == got.v[i].objectno &&
           want.v[i].off == got.v[i].off && want.v[i].len == got.v[i].len &&
           want.v[i].image_off == got.v[i].image_off;
  if (!same) {
    fprintf(stderr, "layout os %" PRIu64 " su %" PRIu64 " sc %" PRIu64
            ", map(%" PRIu64 ", %" PRIu64 "):\n", r->s.object_size,
            r->s.stripe_unit, r->s.stripe_count, off, len);
    for (size_t i = 0; i < want.n || i < got.n; i++) {
      if (i < want.n)
        fprintf(stderr, "  want obj %" PRIu64 " off %" PRIu64 " len %" PRIu64
                " img %" PRIu64 "\n", want.v[i].objectno, want.v[i].off,
                want.v[i].len, want.v[i].image_off);
      if (i < got.n)
        fprintf(stderr, "  got  obj %" PRIu64 " off %" PRIu64 " len %" PRIu64
                " img %" PRIu64 "\n", got.v[i].objectno, got.v[i].off,
                got.v[i].len, got.v[i].image_off);
    }
    fail_msg("striping_map differs from the reference (%zu vs %zu pieces)",
             got.n, want.n);
  }
  free(want.v);
  free(got.v);
}

static void check_offset(const struct ref *r, uint64_t off)
{
  uint64_t wo, wx, go, gx;
  ref_locate(r, off, &wo, &wx);
  striping_locate(&r->s, off, &go, &gx);
  if (wo != go || wx != gx)
    fail_msg("os %" PRIu64 " su %" PRIu64 " sc %" PRIu64 ": locate(%" PRIu64
             ") = (%" PRIu64 ", %" PRIu64 "), want (%" PRIu64 ", %" PRIu64 ")",
             r->s.object_size, r->s.stripe_unit, r->s.stripe_count, off, go,
             gx, wo, wx);
  assert_true(gx < r->s.object_size);
  uint64_t back = striping_image_offset(&r->s, go, gx);
  if (back != off)
    fail_msg("os %" PRIu64 " su %" PRIu64 " sc %" PRIu64 ": image_offset("
             "locate(%" PRIu64 ")) = %" PRIu64, r->s.object_size,
             r->s.stripe_unit, r->s.stripe_count, off, back);
}

static void check_object_offset(const struct ref *r, uint64_t objectno,
                                 uint64_t objoff)
{
  uint64_t want = ref_image_offset(r, objectno, objoff);
  uint64_t got = striping_image_offset(&r->s, objectno, objoff);
  if (want != got)
    fail_msg("os %" PRIu64 " su %" PRIu64 " sc %" PRIu64 ": image_offset(%"
             PRIu64 ", %" PRIu64 ") = %" PRIu64 ", want %" PRIu64,
             r->s.object_size, r->s.stripe_unit, r->s.stripe_count, objectno,
             objoff, got, want);
  uint64_t o, x;
  striping_locate(&r->s, got, &o, &x);
  assert_int_equal(o, objectno);
  assert_int_equal(x, objoff);
}

/* ---- layouts ------------------------------------------------------------- */

static const struct striping layouts[] = {
    {4 * KiB, 4 * KiB, 1},
    {4 * KiB, 512, 1},
    {4 * KiB, 512, 8},
    {8 * KiB, 512, 3},
    {64 * KiB, 4 * KiB, 16},
    {64 * KiB, 16 * KiB, 4},
    {64 * KiB, 4 * KiB, 1},
    {1 * MiB, 1 * MiB, 1},
    {4 * MiB, 4 * MiB, 1},
    {4 * MiB, 64 * KiB, 4},
    {4 * MiB, 1 * MiB, 3},
    {4 * MiB, 4 * MiB, 5},
    {32 * MiB, 32 * MiB, 1},
    {32 * MiB, 1 * MiB, 7},
    {32 * MiB, 8 * MiB, 4096},
    {16 * KiB, 8 * KiB, 4096},
};
#define NLAYOUTS (sizeof layouts / sizeof *layouts)

static struct ref *ref_of(size_t i)
{
  const struct striping *s = &layouts[i];
  lbd_error_clear();
  if (striping_check(s) != 0)
    fail_msg("valid layout os %" PRIu64 " su %" PRIu64 " sc %" PRIu64
             " refused: %s", s->object_size, s->stripe_unit, s->stripe_count,
             lbd_last_error());
  return ref_new(s->object_size, s->stripe_unit, s->stripe_count);
}

/* Hand-worked examples, so the reference itself is checked too. */
static void test_known_values(void **state)
{
  (void)state;
  uint64_t o, x;
  /* su 64K sc 4 os 4M: unit 5 is row 1 of object 1. */
  struct striping a = {4 * MiB, 64 * KiB, 4};
  striping_locate(&a, 5 * 64 * KiB + 7, &o, &x);
  assert_int_equal(o, 1);
  assert_int_equal(x, 64 * KiB + 7);
  /* The first byte of the second object set (16 MiB) is object 4 at 0. */
  striping_locate(&a, 16 * MiB, &o, &x);
  assert_int_equal(o, 4);
  assert_int_equal(x, 0);
  /* The last byte of the first set is the last byte of object 3. */
  striping_locate(&a, 16 * MiB - 1, &o, &x);
  assert_int_equal(o, 3);
  assert_int_equal(x, 4 * MiB - 1);
  assert_int_equal(striping_image_offset(&a, 2, 3 * 64 * KiB + 1),
                   (3 * 4 + 2) * 64 * KiB + 1);
  /* su 512 sc 3 os 8K: byte 1600 is unit 3 -> object 0, row 1, +64. */
  struct striping b = {8 * KiB, 512, 3};
  striping_locate(&b, 1600, &o, &x);
  assert_int_equal(o, 0);
  assert_int_equal(x, 512 + 64);
  /* Unit 47 is the last of the first set: object 2, row 15. */
  striping_locate(&b, 47 * 512 + 511, &o, &x);
  assert_int_equal(o, 2);
  assert_int_equal(x, 8 * KiB - 1);
  striping_locate(&b, 48 * 512, &o, &x);
  assert_int_equal(o, 3);
  assert_int_equal(x, 0);
  /* Plain layout: object n holds [n*os, (n+1)*os). */
  struct striping c = {4 * MiB, 4 * MiB, 1};
  striping_locate(&c, 10 * MiB + 5, &o, &x);
  assert_int_equal(o, 2);
  assert_int_equal(x, 2 * MiB + 5);
  /* The reference agrees with all of these. */
  struct ref *r = ref_new(8 * KiB, 512, 3);
  ref_locate(r, 1600, &o, &x);
  assert_int_equal(o, 0);
  assert_int_equal(x, 576);
  ref_locate(r, 48 * 512, &o, &x);
  assert_int_equal(o, 3);
  assert_int_equal(x, 0);
  ref_free(r);
}

static void test_locate_every_unit(void **state)
{
  (void)state;
  for (size_t i = 0; i < NLAYOUTS; i++) {
    struct ref *r = ref_of(i);
    uint64_t su = r->s.stripe_unit;
    /* Every unit of the first two and a half periods (capped), at its first
     * byte, its last byte and one inside. */
    uint64_t units = r->units * 5 / 2;
    if (units > 20000)
      units = 20000;
    for (uint64_t u = 0; u < units; u++) {
      check_offset(r, u * su);
      check_offset(r, u * su + su - 1);
      check_offset(r, u * su + rnd_below(su));
    }
    ref_free(r);
  }
}

static void test_locate_random_and_far(void **state)
{
  (void)state;
  for (size_t i = 0; i < NLAYOUTS; i++) {
    struct ref *r = ref_of(i);
    for (int k = 0; k < 3000; k++) {
      uint64_t off;
      switch (k % 3) {
      case 0:
        off = rnd_below(8 * r->period);
        break;
      case 1:
        off = rnd_below(64 * PiB); /* up to the largest image */
        break;
      default: /* near a period boundary far away */
        off = (rnd_below(64 * PiB / r->period) + 1) * r->period;
        off = off - 2 * r->s.stripe_unit + rnd_below(4 * r->s.stripe_unit);
        break;
      }
      check_offset(r, off);
    }
    /* The last byte of a 64 PiB image. */
    check_offset(r, 64 * PiB - 1);
    ref_free(r);
  }
}

static void test_image_offset_round_trip(void **state)
{
  (void)state;
  for (size_t i = 0; i < NLAYOUTS; i++) {
    struct ref *r = ref_of(i);
    uint64_t os = r->s.object_size, su = r->s.stripe_unit;
    uint64_t sc = r->s.stripe_count;
    /* Every row of the first objects, at unit edges. */
    uint64_t objs = 2 * sc + 1 < 64 ? 2 * sc + 1 : 64;
    for (uint64_t o = 0; o < objs; o++)
      for (uint64_t row = 0; row < os / su && row < 256; row++) {
        check_object_offset(r, o, row * su);
        check_object_offset(r, o, row * su + su - 1);
      }
    /* Random objects, far ones too. */
    uint64_t max_obj = 64 * PiB / os;
    for (int k = 0; k < 2000; k++) {
      uint64_t o = k % 2 ? rnd_below(max_obj) : rnd_below(4 * sc + 3);
      check_object_offset(r, o, rnd_below(os));
    }
    ref_free(r);
  }
}

/* Ranges at and across unit, object and period boundaries. */
static void test_map_boundaries(void **state)
{
  (void)state;
  for (size_t i = 0; i < NLAYOUTS; i++) {
    struct ref *r = ref_of(i);
    uint64_t os = r->s.object_size, su = r->s.stripe_unit;
    uint64_t period = r->period;
    /* Skip the huge-period layouts for whole-period ranges. */
    bool small = period <= 64 * MiB;
    uint64_t edges[] = {0, su, os, period, 2 * period, 3 * su, os + su};
    for (size_t e = 0; e < sizeof edges / sizeof *edges; e++) {
      uint64_t b = edges[e];
      uint64_t lens[] = {1, su - 1, su, su + 1, 2 * su, os - 1, os, os + 1};
      for (size_t l = 0; l < sizeof lens / sizeof *lens; l++) {
        if (lens[l] == 0 || lens[l] > 64 * MiB)
          continue;
        check_map(r, b, lens[l]);
        if (b >= 1)
          check_map(r, b - 1, lens[l]);
        if (b >= 7)
          check_map(r, b - 7, lens[l] + 9);
      }
      if (small) {
        check_map(r, b, period);
        check_map(r, b + 1, period + su);
      }
    }
    /* Far away, near the 64 PiB end. */
    check_map(r, 64 * PiB - period / 2 - 3, period / 2 + 3 > 64 * MiB
                                                ? 64 * MiB
                                                : period / 2 + 3);
    /* A zero-length range yields nothing. */
    struct extents none = {0};
    assert_int_equal(striping_map(&r->s, 12345, 0, collect, &none), 0);
    assert_int_equal(none.n, 0);
    ref_free(r);
  }
}

static void test_map_random(void **state)
{
  (void)state;
  for (size_t i = 0; i < NLAYOUTS; i++) {
    struct ref *r = ref_of(i);
    uint64_t span = r->period * 3 < 96 * MiB ? r->period * 3 : 96 * MiB;
    for (int k = 0; k < 300; k++) {
      uint64_t off = rnd_below(span);
      uint64_t maxlen = k % 4 == 0 ? r->period * 2 : r->s.stripe_unit * 5;
      if (maxlen > 32 * MiB)
        maxlen = 32 * MiB;
      check_map(r, off, 1 + rnd_below(maxlen));
    }
    ref_free(r);
  }
}

/* Pieces cover the range in image order, each inside one object and (but
 * for merges) one stripe unit; with stripe count 1 the units of an object
 * merge into one piece per object. */
static void test_map_merges(void **state)
{
  (void)state;
  struct extents got = {0};
  /* su 4K sc 1 os 64K: 3 objects' worth from 1K: 3 pieces + 1. */
  struct striping a = {64 * KiB, 4 * KiB, 1};
  assert_int_equal(striping_map(&a, 1 * KiB, 3 * 64 * KiB, collect, &got), 0);
  assert_int_equal(got.n, 4);
  assert_int_equal(got.v[0].objectno, 0);
  assert_int_equal(got.v[0].off, 1 * KiB);
  assert_int_equal(got.v[0].len, 63 * KiB);
  assert_int_equal(got.v[0].image_off, 1 * KiB);
  assert_int_equal(got.v[1].objectno, 1);
  assert_int_equal(got.v[1].off, 0);
  assert_int_equal(got.v[1].len, 64 * KiB);
  assert_int_equal(got.v[1].image_off, 64 * KiB);
  assert_int_equal(got.v[3].objectno, 3);
  assert_int_equal(got.v[3].len, 1 * KiB);
  got.n = 0;
  /* Default layout: a 10 MiB range from 3 MiB: 1 + 4 + 4 + 1 MiB. */
  struct striping b = {4 * MiB, 4 * MiB, 1};
  assert_int_equal(striping_map(&b, 3 * MiB, 10 * MiB, collect, &got), 0);
  assert_int_equal(got.n, 4);
  assert_int_equal(got.v[0].len, 1 * MiB);
  assert_int_equal(got.v[1].len, 4 * MiB);
  assert_int_equal(got.v[2].len, 4 * MiB);
  assert_int_equal(got.v[3].objectno, 3);
  assert_int_equal(got.v[3].off, 0);
  assert_int_equal(got.v[3].len, 1 * MiB);
  assert_int_equal(got.v[3].image_off, 12 * MiB);
  got.n = 0;
  /* su 64K sc 4: one full row of the set -> 4 pieces of 64K, no merges;
   * two rows -> 8 pieces (object 0 twice, not contiguous in the image). */
  struct striping c = {4 * MiB, 64 * KiB, 4};
  assert_int_equal(striping_map(&c, 0, 8 * 64 * KiB, collect, &got), 0);
  assert_int_equal(got.n, 8);
  for (size_t k = 0; k < 8; k++) {
    assert_int_equal(got.v[k].objectno, k % 4);
    assert_int_equal(got.v[k].off, (k / 4) * 64 * KiB);
    assert_int_equal(got.v[k].len, 64 * KiB);
    assert_int_equal(got.v[k].image_off, k * 64 * KiB);
  }
  got.n = 0;
  /* A range inside one unit is one piece. */
  assert_int_equal(striping_map(&c, 70 * KiB, 10 * KiB, collect, &got), 0);
  assert_int_equal(got.n, 1);
  assert_int_equal(got.v[0].objectno, 1);
  assert_int_equal(got.v[0].off, 6 * KiB);
  free(got.v);
}

static int stop_after_two(const struct object_extent *ext, void *arg)
{
  (void)ext;
  int *calls = arg;
  return ++*calls == 2 ? 42 : 0;
}

static void test_map_stops(void **state)
{
  (void)state;
  struct striping c = {64 * KiB, 4 * KiB, 16};
  int calls = 0;
  assert_int_equal(striping_map(&c, 0, 1 * MiB, stop_after_two, &calls), 42);
  assert_int_equal(calls, 2);
  calls = 0;
  /* A stop from the last piece is returned too. */
  assert_int_equal(striping_map(&c, 0, 8 * KiB, stop_after_two, &calls), 42);
  assert_int_equal(calls, 2);
}

static void check_count(const struct ref *r, uint64_t size, bool walk)
{
  uint64_t want = walk ? ref_object_count_walk(r, size)
                       : ceph_num_objects(&r->s, size);
  if (walk)
    assert_int_equal(want, ceph_num_objects(&r->s, size));
  uint64_t got = striping_object_count(&r->s, size);
  if (got != want)
    fail_msg("os %" PRIu64 " su %" PRIu64 " sc %" PRIu64 ": object_count(%"
             PRIu64 ") = %" PRIu64 ", want %" PRIu64, r->s.object_size,
             r->s.stripe_unit, r->s.stripe_count, size, got, want);
}

static void test_object_count(void **state)
{
  (void)state;
  for (size_t i = 0; i < NLAYOUTS; i++) {
    struct ref *r = ref_of(i);
    uint64_t su = r->s.stripe_unit, period = r->period;
    assert_int_equal(striping_object_count(&r->s, 0), 0);
    bool walkable = period / su * 3 <= 200000;
    if (walkable) {
      /* Sizes at every unit edge of the first 2.5 periods, +-1. */
      uint64_t units = r->units * 5 / 2;
      if (units > 3000)
        units = 3000;
      for (uint64_t u = 1; u <= units; u++) {
        check_count(r, u * su - 1, true);
        check_count(r, u * su, true);
        check_count(r, u * su + 1, true);
      }
      check_count(r, 3 * period, true);
      check_count(r, 3 * period - 1, true);
    }
    /* Big sizes, with Ceph's arithmetic. */
    for (int k = 0; k < 500; k++)
      check_count(r, 1 + rnd_below(64 * PiB), false);
    check_count(r, 64 * PiB, false);
    check_count(r, 1, false);
    ref_free(r);
  }
}

static void expect_invalid(uint64_t os, uint64_t su, uint64_t sc,
                           const char *mention)
{
  struct striping s = {os, su, sc};
  lbd_error_clear();
  int r = striping_check(&s);
  if (r != -EINVAL)
    fail_msg("striping_check(os %" PRIu64 ", su %" PRIu64 ", sc %" PRIu64
             ") = %d, want -EINVAL", os, su, sc, r);
  const char *msg = lbd_last_error();
  if (!msg || !*msg)
    fail_msg("striping_check(os %" PRIu64 ", su %" PRIu64 ", sc %" PRIu64
             "): no message", os, su, sc);
  if (mention && !strstr(msg, mention))
    fail_msg("striping_check message \"%s\" does not mention %s", msg,
             mention);
}

static void test_check(void **state)
{
  (void)state;
  for (size_t i = 0; i < NLAYOUTS; i++)
    assert_int_equal(striping_check(&layouts[i]), 0);
  struct striping ok[] = {
      {4 * KiB, 512, 1},       {32 * MiB, 512, 1}, {32 * MiB, 32 * MiB, 4096},
      {8 * KiB, 2 * KiB, 2},   {2 * MiB, 1 * MiB, 1},
  };
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
    assert_int_equal(striping_check(&ok[i]), 0);
  /* Object sizes: not a power of two, or out of 4 KiB..32 MiB. */
  expect_invalid(0, 512, 1, NULL);
  expect_invalid(2 * KiB, 512, 1, "2048");
  expect_invalid(3000, 1000, 1, "3000");
  expect_invalid(4 * KiB - 1, 512, 1, "4095");
  expect_invalid(4 * KiB + 512, 512, 1, "4608");
  expect_invalid(48 * KiB, 16 * KiB, 1, "49152");
  expect_invalid(6 * MiB, 1 * MiB, 1, "6291456");
  expect_invalid(64 * MiB, 64 * MiB, 1, "67108864");
  expect_invalid(64 * MiB, 4 * MiB, 1, "67108864");
  expect_invalid(1ULL << 63, 4 * MiB, 1, NULL);
  /* Stripe units: under 512, or not dividing the object size. */
  expect_invalid(4 * MiB, 0, 1, NULL);
  expect_invalid(4 * KiB, 256, 1, "256");
  expect_invalid(64 * KiB, 24 * KiB, 2, "24576");
  expect_invalid(64 * KiB, 3000, 2, "3000");
  expect_invalid(4 * KiB, 8 * KiB, 1, "8192");
  expect_invalid(4 * MiB, 4 * MiB + 512, 1, NULL);
  /* Stripe counts: 1..4096. */
  expect_invalid(4 * MiB, 64 * KiB, 0, NULL);
  expect_invalid(4 * MiB, 64 * KiB, 4097, "4097");
  expect_invalid(4 * MiB, 64 * KiB, UINT64_MAX, NULL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_values),
      cmocka_unit_test(test_locate_every_unit),
      cmocka_unit_test(test_locate_random_and_far),
      cmocka_unit_test(test_image_offset_round_trip),
      cmocka_unit_test(test_map_boundaries),
      cmocka_unit_test(test_map_random),
      cmocka_unit_test(test_map_merges),
      cmocka_unit_test(test_map_stops),
      cmocka_unit_test(test_object_count),
      cmocka_unit_test(test_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
