/* lbd-bench-migration-helper: the file chores of bench/migration.sh.
 *
 *   fill FILE SIZE EVERY   write FILE, SIZE bytes (K/M/G suffixes), sparse:
 *                          4 MiB of pseudo-random data (splitmix64, a new
 *                          seed per chunk) in every EVERY-th 4 MiB slot,
 *                          holes elsewhere (EVERY 1: fully written); prints
 *                          the bytes written
 *   evict PATH...          syncfs, then POSIX_FADV_DONTNEED on every regular
 *                          file under each PATH (file or directory tree), so
 *                          that the next read of them comes from the disk
 *                          without dropping the rest of the machine's page
 *                          cache; prints the bytes still resident (mincore)
 *   resident PATH...       prints the bytes of PATH... in the page cache
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"

#define CHUNK (4u << 20)

static uint64_t parse_size(const char *s)
{
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  uint64_t mult = 1;
  if (*end == 'K' || *end == 'k')
    mult = 1ull << 10;
  else if (*end == 'M' || *end == 'm')
    mult = 1ull << 20;
  else if (*end == 'G' || *end == 'g')
    mult = 1ull << 30;
  if (errno || end == s || (mult > 1 && end[1]) || (mult == 1 && *end))
    bench_die("bad size '%s' (a number with K, M or G)", s);
  return v * mult;
}

static int cmd_fill(const char *path, uint64_t size, unsigned long every)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    bench_die("open %s: %s", path, strerror(errno));
  if (ftruncate(fd, (off_t)size) < 0)
    bench_die("ftruncate %s: %s", path, strerror(errno));
  char *buf = bench_xalloc(CHUNK);
  uint64_t written = 0;
  for (uint64_t slot = 0; slot * CHUNK < size; slot++) {
    if (slot % every)
      continue;
    uint64_t off = slot * CHUNK;
    size_t len = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
    bench_fill_random(buf, CHUNK, slot + 1);
    bench_full_pwrite(fd, buf, len, (off_t)off, path);
    written += len;
  }
  if (close(fd) < 0)
    bench_die("close %s: %s", path, strerror(errno));
  free(buf);
  printf("%" PRIu64 "\n", written);
  return 0;
}

static uint64_t resident_total;

static void resident_file(const char *path, const struct stat *st)
{
  if (st->st_size == 0)
    return;
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return;
  void *m = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (m == MAP_FAILED)
    return;
  long page = sysconf(_SC_PAGESIZE);
  size_t pages = ((size_t)st->st_size + (size_t)page - 1) / (size_t)page;
  unsigned char *vec = malloc(pages);
  if (vec && mincore(m, (size_t)st->st_size, vec) == 0)
    for (size_t i = 0; i < pages; i++)
      if (vec[i] & 1)
        resident_total += (uint64_t)page;
  free(vec);
  munmap(m, (size_t)st->st_size);
}

static int resident_one(const char *path, const struct stat *st, int type,
                        struct FTW *ftw)
{
  (void)ftw;
  if (type == FTW_F && S_ISREG(st->st_mode))
    resident_file(path, st);
  return 0;
}

static uint64_t resident(int n, char **paths)
{
  resident_total = 0;
  for (int i = 0; i < n; i++)
    nftw(paths[i], resident_one, 16, FTW_PHYS);
  return resident_total;
}

static int cmd_evict(int n, char **paths)
{
  for (int i = 0; i < n; i++) {
    struct stat st;
    if (stat(paths[i], &st) < 0)
      bench_die("%s: %s", paths[i], strerror(errno));
    int fd = open(paths[i], O_RDONLY);
    if (fd < 0 || syncfs(fd) < 0)
      bench_die("syncfs %s: %s", paths[i], strerror(errno));
    close(fd);
    if (S_ISDIR(st.st_mode))
      bench_fadvise_tree(paths[i]);
    else
      bench_fadvise_dontneed(paths[i]);
  }
  printf("%" PRIu64 "\n", resident(n, paths));
  return 0;
}

int main(int argc, char **argv)
{
  bench.prog = "lbd-bench-migration-helper";
  bench.keep = true; /* no run directory of ours to remove */
  if (argc == 5 && strcmp(argv[1], "fill") == 0) {
    unsigned every;
    if (!bench_parse_uint(argv[4], 1, 1000000, &every))
      bench_die("bad EVERY '%s' (1 or more)", argv[4]);
    return cmd_fill(argv[2], parse_size(argv[3]), every);
  }
  if (argc >= 3 && strcmp(argv[1], "evict") == 0)
    return cmd_evict(argc - 2, argv + 2);
  if (argc >= 3 && strcmp(argv[1], "resident") == 0) {
    printf("%" PRIu64 "\n", resident(argc - 2, argv + 2));
    return 0;
  }
  fprintf(stderr, "usage: %s fill FILE SIZE EVERY | evict PATH... | "
                  "resident PATH...\n", bench.prog);
  return 2;
}
