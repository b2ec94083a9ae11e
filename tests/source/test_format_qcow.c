/* The qcow format (src/source/format_qcow.c) against qemu itself: images
 * made by qemu-img and written with qemu-io (QCOW2 compat 0.10 and 1.1,
 * cluster sizes 512 B to 2 MiB, zero clusters, discards, compressed
 * clusters with zlib and zstd, extended L2 entries, internal snapshots, a
 * backing chain with qcow2 and raw backings, QCOW version 1).  Every byte
 * of format_read (head and each snapshot) is compared with `qemu-img
 * convert -O raw` (-l for snapshots), format_extents with `qemu-img map`;
 * encrypted and external-data-file images are refused naming the feature,
 * truncated and corrupted ones with EINVAL (or ENOTSUP), never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "lbd/lbd.h"
#include "source/format.h"
#include "util/extents.h"

static char dir[256];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  char full[8400];
  snprintf(full, sizeof full, "cd %s && (%s) >/dev/null", dir, cmd);
  int r = system(full);
  if (r != 0)
    fail_msg("command failed (%d): %s", r, cmd);
}

static int sh_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh_ok(const char *fmt, ...)
{
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  char full[8400];
  snprintf(full, sizeof full, "cd %s && (%s) >/dev/null 2>&1", dir, cmd);
  return system(full) == 0;
}

static void path_of(char *out, size_t n, const char *name)
{
  snprintf(out, n, "%s/%s", dir, name);
}

static int open_file(const char *name, struct format **f)
{
  char p[512];
  path_of(p, sizeof p, name);
  json_t *spec = json_pack("{s:s, s:{s:s, s:s}}", "type", "qcow", "stream",
                           "type", "file", "file_path", p);
  int r = format_open(spec, NULL, f);
  json_decref(spec);
  return r;
}

static uint8_t *slurp(const char *name, size_t *len)
{
  char p[512];
  path_of(p, sizeof p, name);
  FILE *fp = fopen(p, "rb");
  assert_non_null(fp);
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  uint8_t *b = malloc(n ? (size_t)n : 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
  fclose(fp);
  *len = (size_t)n;
  return b;
}

/* Every byte of F at SNAP equals REF (the raw image qemu-img gave), read in
 * chunks of odd sizes; and every byte outside format_extents is zero. */
static void compare_bytes(struct format *f, uint32_t snap, const uint8_t *ref,
                          size_t reflen)
{
  assert_int_equal(format_size(f, snap), reflen);
  static const size_t chunks[] = {1u << 20, 4097, 65536 + 512, 333333};
  for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
    size_t cs = chunks[c];
    uint8_t *buf = malloc(cs);
    assert_non_null(buf);
    for (size_t off = 0; off < reflen; off += cs) {
      size_t n = reflen - off < cs ? reflen - off : cs;
      memset(buf, 0xee, cs);
      int r = format_read(f, snap, off, cs, buf);
      if (r < 0)
        fail_msg("format_read(%zu, %zu): %s", off, cs, lbd_last_error());
      if (memcmp(buf, ref + off, n) != 0) {
        size_t i = 0;
        while (buf[i] == ref[off + i])
          i++;
        fail_msg("snap %u: byte %zu differs: %02x, qemu %02x", snap,
                 off + i, buf[i], ref[off + i]);
      }
      for (size_t i = n; i < cs; i++) /* past the size: zeroes */
        assert_int_equal(buf[i], 0);
    }
    free(buf);
  }
  struct extent_set ext = {0};
  assert_int_equal(format_extents(f, snap, 0, reflen, &ext), 0);
  uint64_t at = 0;
  for (size_t i = 0; i <= ext.n; i++) {
    uint64_t end = i < ext.n ? ext.ext[i].off : reflen;
    for (uint64_t b = at; b < end; b++)
      if (ref[b])
        fail_msg("snap %u: byte %llu is %02x outside the extents", snap,
                 (unsigned long long)b, ref[b]);
    if (i < ext.n)
      at = ext.ext[i].off + ext.ext[i].len;
  }
  extent_set_free(&ext);
}

static void compare_head(struct format *f, const char *name)
{
  sh("qemu-img convert -O raw %s ref.raw", name);
  size_t len;
  uint8_t *ref = slurp("ref.raw", &len);
  compare_bytes(f, FORMAT_HEAD, ref, len);
  free(ref);
}

static void compare_snap(struct format *f, uint32_t i, const char *name)
{
  const struct format_snap *s = format_snap(f, i);
  assert_non_null(s);
  sh("qemu-img convert -O raw -l 'snapshot.name=%s' %s ref.raw", s->name,
     name);
  size_t len;
  uint8_t *ref = slurp("ref.raw", &len);
  /* qemu-img convert -l keeps the image's current size: what lies past a
   * smaller snapshot's size must be zeroes */
  for (size_t b = s->size; b < len; b++)
    assert_int_equal(ref[b], 0);
  if (len > s->size)
    len = (size_t)s->size;
  compare_bytes(f, i, ref, len);
  free(ref);
}

/* format_extents of the head against `qemu-img map`: it covers every
 * range qemu calls data (and not zero), and lies inside what qemu calls
 * data. */
static void compare_map(struct format *f, const char *name, bool raw_below)
{
  sh("qemu-img map --output=json %s > map.json", name);
  char p[512];
  path_of(p, sizeof p, "map.json");
  json_error_t err;
  json_t *map = json_load_file(p, 0, &err);
  assert_non_null(map);
  struct extent_set must = {0}, may = {0}, ext = {0}, x = {0};
  size_t i;
  json_t *e;
  json_array_foreach(map, i, e) {
    uint64_t start = (uint64_t)json_integer_value(json_object_get(e, "start"));
    uint64_t len = (uint64_t)json_integer_value(json_object_get(e, "length"));
    bool data = json_is_true(json_object_get(e, "data"));
    bool zero = json_is_true(json_object_get(e, "zero"));
    if (data)
      assert_int_equal(extent_set_add(&may, start, len), 0);
    if (data && !zero)
      assert_int_equal(extent_set_add(&must, start, len), 0);
  }
  json_decref(map);
  assert_int_equal(format_extents(f, FORMAT_HEAD, 0, format_size(f,
                   FORMAT_HEAD), &ext), 0);
  assert_int_equal(extent_set_intersect(&ext, &must, &x), 0);
  if (extent_set_bytes(&x) != extent_set_bytes(&must))
    fail_msg("%s: extents miss data qemu maps (%llu of %llu bytes)", name,
             (unsigned long long)extent_set_bytes(&x),
             (unsigned long long)extent_set_bytes(&must));
  extent_set_free(&x);
  assert_int_equal(extent_set_intersect(&ext, &may, &x), 0);
  /* a raw backing is all data to us (a stream has no holes) */
  if (!raw_below && extent_set_bytes(&x) != extent_set_bytes(&ext))
    fail_msg("%s: extents hold %llu bytes that qemu does not map as data",
             name,
             (unsigned long long)(extent_set_bytes(&ext) -
                                  extent_set_bytes(&x)));
  extent_set_free(&x);
  extent_set_free(&must);
  extent_set_free(&may);
  extent_set_free(&ext);
}

/* Open NAME and compare everything: head, map, every snapshot. */
static void check_image_raw(const char *name, uint32_t nsnaps,
                            bool raw_below)
{
  struct format *f;
  int r = open_file(name, &f);
  if (r < 0)
    fail_msg("open %s: %s", name, lbd_last_error());
  assert_int_equal(format_snap_count(f), nsnaps);
  compare_head(f, name);
  compare_map(f, name, raw_below);
  for (uint32_t i = 0; i < nsnaps; i++)
    compare_snap(f, i, name);
  format_close(f);
}

static void check_image(const char *name, uint32_t nsnaps)
{
  check_image_raw(name, nsnaps, false);
}

#define MiB (1024ull * 1024)
#define SIZE (16 * MiB)

/* Data, zeroes and discards across cluster boundaries, unaligned too. */
static void poke(const char *name, uint64_t off, unsigned len,
                 uint64_t value);

static void write_pattern(const char *name, const char *fmt)
{
  sh("qemu-io -f %s"
     " -c 'write -P 0x11 0 3000'"
     " -c 'write -P 0x22 5000 70000'"
     " -c 'write -P 0x33 %llu %llu'"
     " -c 'write -P 0x44 %llu 512'"
     " -c 'write -P 0x55 %llu %llu'"
     " -c 'write -z %llu 65536'"
     " -c 'discard %llu %llu'"
     " -c 'write -z %llu %llu'"
     " -c 'write -P 0x77 %llu 100000'"
     " -c 'write -P 0x66 %llu 4096' %s",
     fmt, MiB, MiB, 4 * MiB, 6 * MiB, 2 * MiB, 6 * MiB + MiB / 2, 7 * MiB,
     MiB, 10 * MiB, MiB, 12 * MiB, SIZE - 4096, name);
}

static void test_cluster_sizes(void **state)
{
  static const char *compat[] = {"0.10", "1.1"};
  static const unsigned cs[] = {512, 4096, 65536, 2u << 20};
  for (int c = 0; c < 2; c++)
    for (int k = 0; k < 4; k++) {
      sh("rm -f a.qcow2 && qemu-img create -q -f qcow2 -o compat=%s,"
         "cluster_size=%u a.qcow2 %llu", compat[c], cs[k], SIZE);
      write_pattern("a.qcow2", "qcow2");
      check_image("a.qcow2", 0);
    }
}

static void test_zero_clusters(void **state)
{
  /* v3: zero flag on allocated (data then write -z) and unallocated
   * clusters, and full-cluster zero writes with unmap */
  sh("rm -f z.qcow2 && qemu-img create -q -f qcow2 -o cluster_size=65536 "
     "z.qcow2 %llu", SIZE);
  sh("qemu-io -f qcow2 -c 'write -P 0xaa 0 4M' -c 'write -z 64k 128k'"
     " -c 'write -z -u 1M 1M' -c 'write -z 8M 1M' -c 'discard 3M 64k'"
     " -c 'write -z 3M+4k 4k' z.qcow2 2>/dev/null || "
     "qemu-io -f qcow2 -c 'write -P 0xaa 0 4M' -c 'write -z 64k 128k'"
     " -c 'write -z -u 1M 1M' -c 'write -z 8M 1M' -c 'discard 3M 64k'"
     " z.qcow2");
  check_image("z.qcow2", 0);
  /* the zero clusters are not data */
  struct format *f;
  assert_int_equal(open_file("z.qcow2", &f), 0);
  struct extent_set ext = {0};
  assert_int_equal(format_extents(f, FORMAT_HEAD, 0, SIZE, &ext), 0);
  assert_false(extent_set_intersects(&ext, 64 * 1024, 128 * 1024));
  assert_false(extent_set_intersects(&ext, 8 * MiB, MiB));
  assert_true(extent_set_intersects(&ext, 0, 64 * 1024));
  extent_set_free(&ext);
  format_close(f);
}

static void test_compressed(void **state)
{
  sh("rm -f src.qcow2 && qemu-img create -q -f qcow2 src.qcow2 %llu", SIZE);
  write_pattern("src.qcow2", "qcow2");
  /* some compressible, some random data */
  sh("qemu-io -f qcow2 -c 'write -P 0 9M 64k' src.qcow2 && "
     "head -c 300000 /dev/urandom > rnd && "
     "qemu-io -f qcow2 -c 'write -s rnd 13M 300000' src.qcow2");
  static const char *opts[] = {"cluster_size=65536", "cluster_size=4096",
                               "cluster_size=2097152", "cluster_size=512",
                               "compression_type=zstd",
                               "compression_type=zstd,cluster_size=4096",
                               "compat=0.10"};
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
    sh("rm -f c.qcow2 && qemu-img convert -c -O qcow2 -o %s src.qcow2 "
       "c.qcow2", opts[i]);
    check_image("c.qcow2", 0);
  }
  /* compressed clusters, then partly overwritten */
  sh("qemu-io -f qcow2 -c 'write -P 0x99 5000 3000' -c 'write -z 1M 64k' "
     "c.qcow2");
  check_image("c.qcow2", 0);
}

static void test_extended_l2(void **state)
{
  static const unsigned cs[] = {16384, 65536, 2u << 20};
  for (int k = 0; k < 3; k++) {
    sh("rm -f x.qcow2 && qemu-img create -q -f qcow2 -o extended_l2=on,"
       "cluster_size=%u x.qcow2 %llu", cs[k], SIZE);
    write_pattern("x.qcow2", "qcow2");
    sh("qemu-io -f qcow2 -c 'write -P 0x12 %llu 2048' "
       "-c 'write -z %llu 4096' x.qcow2", 14 * MiB + 4096, 14 * MiB + 65536);
    check_image("x.qcow2", 0);
  }
  /* subclusters over a backing file: unallocated ones read the backing */
  sh("rm -f xb.qcow2 xt.qcow2 && qemu-img create -q -f qcow2 xb.qcow2 %llu",
     SIZE);
  sh("qemu-io -f qcow2 -c 'write -P 0xbb 0 %llu' xb.qcow2", SIZE);
  sh("qemu-img create -q -f qcow2 -o extended_l2=on -b xb.qcow2 -F qcow2 "
     "xt.qcow2");
  sh("qemu-io -f qcow2 -c 'write -P 0x01 4096 2048' -c 'write -z 65536 "
     "8192' -c 'discard 1M 64k' -c 'write -P 0x02 2M+1000 9000' xt.qcow2 "
     "2>/dev/null || qemu-io -f qcow2 -c 'write -P 0x01 4096 2048' "
     "-c 'write -z 65536 8192' -c 'discard 1M 64k' xt.qcow2");
  check_image("xt.qcow2", 0);
}

static void test_snapshots(void **state)
{
  sh("rm -f s.qcow2 && qemu-img create -q -f qcow2 s.qcow2 %llu", SIZE);
  sh("qemu-io -f qcow2 -c 'write -P 0x01 0 1M' -c 'write -P 0x02 5M 3M' "
     "s.qcow2");
  sh("qemu-img snapshot -c first s.qcow2");
  sh("qemu-io -f qcow2 -c 'write -P 0x03 512k 1M' -c 'discard 5M 1M' "
     "-c 'write -z 6M 64k' s.qcow2");
  sh("sleep 1 && qemu-img snapshot -c second s.qcow2");
  /* grow after the snapshots, if this qemu can */
  if (!sh_ok("qemu-img resize -q s.qcow2 %llu", SIZE + 4 * MiB))
    print_message("qemu-img cannot grow an image with snapshots: skipped\n");
  sh("qemu-io -f qcow2 -c 'write -P 0x04 0 4k' -c 'write -P 0x05 15M 2M' "
     "s.qcow2 || qemu-io -f qcow2 -c 'write -P 0x04 0 4k' s.qcow2");
  sh("sleep 1 && qemu-img snapshot -c third s.qcow2");
  sh("qemu-img snapshot -d second s.qcow2");
  sh("qemu-io -f qcow2 -c 'write -P 0x06 100k 4k' s.qcow2");
  check_image("s.qcow2", 2);
  struct format *f;
  assert_int_equal(open_file("s.qcow2", &f), 0);
  assert_string_equal(format_snap(f, 0)->name, "first");
  assert_string_equal(format_snap(f, 1)->name, "third");
  assert_int_equal(format_snap(f, 0)->size, SIZE);
  assert_true(format_snap(f, 0)->timestamp > 1000000000);
  assert_true(format_snap(f, 1)->timestamp >= format_snap(f, 0)->timestamp);
  assert_null(format_snap(f, 2));
  char b[16];
  assert_int_equal(format_read(f, 2, 0, sizeof b, b), -EINVAL);
  format_close(f);
  /* snapshots in a compat 0.10 image with 512 B clusters */
  sh("rm -f s2.qcow2 && qemu-img create -q -f qcow2 -o compat=0.10,"
     "cluster_size=512 s2.qcow2 4M && qemu-io -f qcow2 -c 'write -P 7 0 "
     "100k' s2.qcow2 && qemu-img snapshot -c a s2.qcow2 && qemu-io -f qcow2 "
     "-c 'write -P 8 50k 100k' s2.qcow2");
  check_image("s2.qcow2", 1);
}

static void test_backing_chain(void **state)
{
  sh("rm -f base.qcow2 mid.qcow2 top.qcow2 base.raw rtop.qcow2");
  sh("qemu-img create -q -f qcow2 base.qcow2 %llu", SIZE);
  sh("qemu-io -f qcow2 -c 'write -P 0xb1 0 8M' base.qcow2");
  sh("qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2");
  sh("qemu-io -f qcow2 -c 'write -P 0xb2 1M 2M' -c 'write -P 0xb3 9M 1M' "
     "mid.qcow2");
  /* the top is larger than its backing */
  sh("qemu-img create -q -f qcow2 -o cluster_size=4096 -b mid.qcow2 "
     "-F qcow2 top.qcow2 %llu", SIZE + 2 * MiB);
  sh("qemu-io -f qcow2 -c 'write -P 0xb4 1500k 1M' -c 'write -z 5M 1M' "
     "-c 'discard 9M 512k' -c 'write -P 0xb5 %llu 4k' top.qcow2",
     SIZE + MiB);
  check_image("top.qcow2", 0);
  /* a raw backing, and one without a backing format (probed) */
  sh("qemu-img convert -O raw base.qcow2 base.raw");
  sh("qemu-img create -q -f qcow2 -b base.raw -F raw rtop.qcow2 && "
     "qemu-io -f qcow2 -c 'write -P 0xc1 7M 2M' rtop.qcow2");
  check_image_raw("rtop.qcow2", 0, true);
  /* no backing format: the extension renamed to an unknown one (ignored
   * by qemu and by us), so both probe */
  size_t hl;
  uint8_t *h = slurp("top.qcow2", &hl);
  size_t at = 0;
  for (size_t i = 104; i + 4 <= 4096 && i + 4 <= hl && !at; i += 8)
    if (h[i] == 0xe2 && h[i + 1] == 0x79 && h[i + 2] == 0x2a &&
        h[i + 3] == 0xca)
      at = i;
  free(h);
  assert_true(at > 0);
  poke("top.qcow2", at, 4, 0x0badcafe);
  check_image("top.qcow2", 0);
  /* a missing backing file, and a chain that loops */
  sh("rm -f l1.qcow2 l2.qcow2 && qemu-img create -q -f qcow2 l1.qcow2 1M && "
     "qemu-img create -q -f qcow2 -b l1.qcow2 -F qcow2 l2.qcow2 && "
     "qemu-img rebase -u -b l2.qcow2 -F qcow2 l1.qcow2");
  struct format *f;
  assert_int_equal(open_file("l2.qcow2", &f), -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "too deep"));
  sh("qemu-img create -q -f qcow2 -b gone.qcow2 -F qcow2 -u miss.qcow2 1M");
  assert_true(open_file("miss.qcow2", &f) < 0);
  assert_non_null(strstr(lbd_last_error(), "gone.qcow2"));
}

static void test_qcow1(void **state)
{
  sh("rm -f v1.qcow && qemu-img create -q -f qcow v1.qcow %llu", SIZE);
  write_pattern("v1.qcow", "qcow");
  check_image("v1.qcow", 0);
  sh("rm -f src.raw c1.qcow && qemu-img convert -O raw v1.qcow src.raw && "
     "qemu-img convert -O qcow src.raw c1.qcow");
  check_image("c1.qcow", 0);
  /* compressed clusters (qemu-img convert -c -O qcow fails in qemu 7.2:
   * qemu-io writes them, whole clusters) */
  sh("rm -f c2.qcow && qemu-img create -q -f qcow c2.qcow 1M && "
     "head -c 4096 /dev/urandom > rnd && qemu-io -f qcow"
     " -c 'write -c -P 0x21 0 4k' -c 'write -c -P 0x22 12k 4k'"
     " -c 'write -c -s rnd 64k 4k' -c 'write -c -P 0 128k 4k'"
     " -c 'write -P 0x23 14k 100' c2.qcow");
  check_image("c2.qcow", 0);
  /* a QCOW1 over a qcow2 backing */
  sh("rm -f b1.qcow && qemu-img create -q -f qcow2 bb.qcow2 %llu && "
     "qemu-io -f qcow2 -c 'write -P 0x5a 0 %llu' bb.qcow2 && "
     "qemu-img create -q -f qcow -b bb.qcow2 -F qcow2 b1.qcow && "
     "qemu-io -f qcow -c 'write -P 0x5b 1M 1M' b1.qcow", SIZE, SIZE);
  check_image("b1.qcow", 0);
}

static void expect_refused(const char *name, int err, const char *words)
{
  struct format *f = NULL;
  int r = open_file(name, &f);
  if (r != -err)
    fail_msg("%s: %d, expected %d (%s)", name, r, -err, lbd_last_error());
  assert_null(f);
  if (!strstr(lbd_last_error(), words))
    fail_msg("%s: message \"%s\" lacks \"%s\"", name, lbd_last_error(),
             words);
}

/* Overwrite LEN bytes at OFF of NAME with the big-endian VALUE. */
static void poke(const char *name, uint64_t off, unsigned len, uint64_t value)
{
  char p[512];
  path_of(p, sizeof p, name);
  int fd = open(p, O_WRONLY);
  assert_true(fd >= 0);
  uint8_t b[8];
  for (unsigned i = 0; i < len; i++)
    b[i] = (uint8_t)(value >> (8 * (len - 1 - i)));
  assert_int_equal(pwrite(fd, b, len, (off_t)off), (ssize_t)len);
  close(fd);
}

static void test_refused(void **state)
{
  sh("rm -f luks.qcow2 && qemu-img create -q -f qcow2 --object "
     "secret,id=s0,data=abc -o encrypt.format=luks,encrypt.key-secret=s0 "
     "luks.qcow2 1M");
  expect_refused("luks.qcow2", ENOTSUP, "LUKS");
  if (sh_ok("rm -f aes.qcow2 && qemu-img create -q -f qcow2 --object "
            "secret,id=s0,data=abc -o encrypt.format=aes,"
            "encrypt.key-secret=s0 aes.qcow2 1M"))
    expect_refused("aes.qcow2", ENOTSUP, "AES");
  sh("rm -f p.qcow2 && qemu-img create -q -f qcow2 p.qcow2 1M && "
     "cp p.qcow2 aes2.qcow2");
  poke("aes2.qcow2", 32, 4, 1);
  expect_refused("aes2.qcow2", ENOTSUP, "encryption (AES");
  sh("rm -f ext.qcow2 ext.raw && qemu-img create -q -f qcow2 -o "
     "data_file=ext.raw ext.qcow2 1M");
  expect_refused("ext.qcow2", ENOTSUP, "external data file");
  sh("cp p.qcow2 unk.qcow2");
  poke("unk.qcow2", 72, 8, 1u << 10);
  expect_refused("unk.qcow2", ENOTSUP, "incompatible feature bit 10");
  sh("cp p.qcow2 zc.qcow2");
  poke("zc.qcow2", 104, 1, 7);
  poke("zc.qcow2", 72, 8, 1u << 3);
  expect_refused("zc.qcow2", ENOTSUP, "compression type 7");
  sh("cp p.qcow2 v4.qcow2");
  poke("v4.qcow2", 4, 4, 4);
  expect_refused("v4.qcow2", ENOTSUP, "version 4");
  sh("cp p.qcow2 cor.qcow2");
  poke("cor.qcow2", 72, 8, 2);
  expect_refused("cor.qcow2", EINVAL, "corrupt");
}

static void test_corrupt(void **state)
{
  sh("rm -f g.qcow2 && qemu-img create -q -f qcow2 -o cluster_size=4096 "
     "g.qcow2 4M && qemu-io -f qcow2 -c 'write -P 1 0 1M' g.qcow2 && "
     "qemu-img snapshot -c s g.qcow2");
  size_t len;
  uint8_t *img = slurp("g.qcow2", &len);
  uint64_t l1 = 0, sn = 0;
  for (int i = 0; i < 8; i++) {
    l1 = l1 << 8 | img[40 + i];
    sn = sn << 8 | img[64 + i];
  }
  uint64_t l2 = 0;
  for (int i = 0; i < 8; i++)
    l2 = l2 << 8 | img[l1 + i];
  l2 &= 0x00fffffffffffe00ull;
  struct {
    const char *what;
    uint64_t off;
    unsigned len;
    uint64_t value;
    const char *words;
  } cases[] = {
    {"bad magic", 0, 4, 0x12345678, "bad magic"},
    {"cluster bits", 20, 4, 30, "cluster_bits"},
    {"small cluster bits", 20, 4, 8, "cluster_bits"},
    {"L1 beyond the end", 40, 8, 1ull << 40, "L1 table"},
    {"L1 unaligned", 40, 8, 4096 + 8, "aligned"},
    {"L1 too small", 36, 4, 0, "too small"},
    {"huge L1", 36, 4, 0x10000000, "L1 table"},
    {"size absurd", 24, 8, 1ull << 63, "absurd"},
    {"L2 beyond the end", l1, 8, 1ull << 45, "L2 table"},
    {"L2 unaligned", l1, 8, l2 + 512, "aligned"},
    {"snapshots beyond the end", 64, 8, 1ull << 40, "snapshot"},
    {"too many snapshots", 60, 4, 1000000, "snapshots"},
    {"snapshot L1 beyond", sn, 8, 1ull << 40, "L1 table"},
    {"snapshot extra data", sn + 36, 4, 100000, "extra data"},
    {"header length", 100, 4, 50, "header_length"},
    {"header length beyond", 100, 4, 1u << 20, "header_length"},
    {"backing name beyond", 8, 8, 4000, "backing file name"},
    {"refcount order", 96, 4, 9, "refcount_order"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sh("cp g.qcow2 bad.qcow2");
    if (strcmp(cases[i].what, "backing name beyond") == 0)
      poke("bad.qcow2", 16, 4, 200);
    poke("bad.qcow2", cases[i].off, cases[i].len, cases[i].value);
    struct format *f = NULL;
    int r = open_file("bad.qcow2", &f);
    if (r != -EINVAL || !strstr(lbd_last_error(), cases[i].words))
      fail_msg("%s: %d \"%s\"", cases[i].what, r, lbd_last_error());
    assert_null(f);
  }
  /* a data cluster beyond the end: at read time */
  sh("cp g.qcow2 bad.qcow2");
  poke("bad.qcow2", l2, 8, (1ull << 63) | (1ull << 40));
  struct format *f;
  assert_int_equal(open_file("bad.qcow2", &f), 0);
  char buf[4096];
  assert_int_equal(format_read(f, FORMAT_HEAD, 0, sizeof buf, buf), -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "beyond the end"));
  struct extent_set ext = {0};
  assert_int_equal(format_extents(f, FORMAT_HEAD, 0, 4096, &ext), -EINVAL);
  extent_set_free(&ext);
  format_close(f);
  /* truncated everywhere in the header: EINVAL */
  static const unsigned cuts[] = {0, 3, 7, 50, 71, 100, 103, 200, 4096};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    sh("head -c %u g.qcow2 > t.qcow2", cuts[i]);
    f = NULL;
    int r = open_file("t.qcow2", &f);
    if (r != -EINVAL)
      fail_msg("cut at %u: %d (%s)", cuts[i], r, lbd_last_error());
  }
  /* random damage to the header, tables and snapshot table: any answer
   * but a crash; whatever opens reads */
  srandom(42);
  char p[512];
  path_of(p, sizeof p, "m.qcow2");
  uint8_t *rb = malloc(1 << 20);
  assert_non_null(rb);
  for (int t = 0; t < 400; t++) {
    uint8_t *m = malloc(len);
    memcpy(m, img, len);
    int nflips = 1 + (int)(random() % 8);
    for (int k = 0; k < nflips; k++) {
      size_t at;
      switch (random() % 4) {
      case 0: at = (size_t)random() % 128; break;
      case 1: at = (size_t)(l1 + (size_t)random() % 64); break;
      case 2: at = (size_t)(sn + (size_t)random() % 128); break;
      default: at = (size_t)(l2 + (size_t)random() % 4096); break;
      }
      if (at < len)
        m[at] = (random() % 2) ? (uint8_t)random() : m[at] ^ (uint8_t)(1u << (random() % 8));
    }
    FILE *fp = fopen(p, "wb");
    fwrite(m, 1, len, fp);
    fclose(fp);
    free(m);
    f = NULL;
    json_t *spec = json_pack("{s:s, s:{s:s, s:s}}", "type", "qcow", "stream",
                             "type", "file", "file_path", p);
    int r = format_open(spec, NULL, &f);
    json_decref(spec);
    if (r < 0) {
      assert_true(*lbd_last_error());
      continue;
    }
    for (uint32_t s = 0; s <= format_snap_count(f); s++) {
      uint32_t snap = s == format_snap_count(f) ? FORMAT_HEAD : s;
      uint64_t size = format_size(f, snap);
      uint64_t n = size < (4u << 20) ? size : (4u << 20);
      for (uint64_t o = 0; o < n; o += 1 << 20)
        (void)format_read(f, snap, o, 1 << 20, rb);
      struct extent_set e = {0};
      (void)format_extents(f, snap, 0, n, &e);
      extent_set_free(&e);
    }
    format_close(f);
  }
  free(rb);
  free(img);
}

/* Reads from several threads at once (the L2 cache and the compressed
 * cluster shared) give qemu's bytes. */
struct reader {
  struct format *f;
  const uint8_t *ref;
  size_t len;
  unsigned seed;
  int bad;
};

static void *reader_main(void *arg)
{
  struct reader *rd = arg;
  uint8_t *buf = malloc(300000);
  for (int i = 0; i < 300 && !rd->bad; i++) {
    size_t n = 1 + (size_t)rand_r(&rd->seed) % 300000;
    size_t off = (size_t)rand_r(&rd->seed) % rd->len;
    if (n > rd->len - off)
      n = rd->len - off;
    if (format_read(rd->f, FORMAT_HEAD, off, n, buf) < 0 ||
        memcmp(buf, rd->ref + off, n) != 0)
      rd->bad = 1;
  }
  free(buf);
  return NULL;
}

static void test_threads(void **state)
{
  sh("rm -f src.qcow2 && qemu-img create -q -f qcow2 -o cluster_size=512 "
     "src.qcow2 %llu", SIZE);
  write_pattern("src.qcow2", "qcow2");
  sh("head -c 2000000 /dev/urandom > rnd && "
     "qemu-io -f qcow2 -c 'write -s rnd 13M 2000000' src.qcow2");
  sh("rm -f t.qcow2 && qemu-img convert -c -O qcow2 -o cluster_size=4096,"
     "compression_type=zstd src.qcow2 t.qcow2 && qemu-io -f qcow2 "
     "-c 'write -P 0x31 2M 1M' t.qcow2 && qemu-img convert -O raw t.qcow2 "
     "ref.raw");
  size_t len;
  uint8_t *ref = slurp("ref.raw", &len);
  struct format *f;
  assert_int_equal(open_file("t.qcow2", &f), 0);
  pthread_t th[6];
  struct reader rd[6];
  for (int i = 0; i < 6; i++) {
    rd[i] = (struct reader){f, ref, len, (unsigned)i + 1, 0};
    pthread_create(&th[i], NULL, reader_main, &rd[i]);
  }
  for (int i = 0; i < 6; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(rd[i].bad, 0);
  }
  format_close(f);
  free(ref);
}

static void test_spec(void **state)
{
  struct format *f;
  json_t *spec = json_pack("{s:s}", "type", "qcow");
  assert_int_equal(format_open(spec, NULL, &f), -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "stream"));
  json_decref(spec);
  spec = json_pack("{s:s, s:{}}", "type", "vmdk", "stream");
  assert_int_equal(format_open(spec, NULL, &f), -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "vmdk"));
  json_decref(spec);
  spec = json_pack("{s:s}", "type", "native");
  assert_int_equal(format_open(spec, NULL, &f), -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "native"));
  json_decref(spec);
  spec = json_pack("{s:i}", "type", 3);
  assert_int_equal(format_open(spec, NULL, &f), -EINVAL);
  json_decref(spec);
  /* a raw file given as qcow */
  sh("head -c 100000 /dev/zero > zero.raw");
  char p[512];
  path_of(p, sizeof p, "zero.raw");
  spec = json_pack("{s:s, s:{s:s, s:s}}", "type", "qcow", "stream", "type",
                   "file", "file_path", p);
  assert_int_equal(format_open(spec, NULL, &f), -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "not a QCOW image"));
  json_decref(spec);
}

static int setup(void **state)
{
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/lbd-qcow-XXXXXX", tmp ? tmp : "/tmp");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
  if (system("qemu-img --version >/dev/null 2>&1 && "
             "qemu-io --version >/dev/null 2>&1") != 0) {
    printf("qemu-img/qemu-io not found: skipped\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_spec),
    cmocka_unit_test(test_cluster_sizes),
    cmocka_unit_test(test_zero_clusters),
    cmocka_unit_test(test_compressed),
    cmocka_unit_test(test_extended_l2),
    cmocka_unit_test(test_snapshots),
    cmocka_unit_test(test_backing_chain),
    cmocka_unit_test(test_qcow1),
    cmocka_unit_test(test_refused),
    cmocka_unit_test(test_corrupt),
    cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
