/* A short, watchable tour of the embedded object store: a cluster with a
 * pool on its own directory, objects, an atomic compound op, snapshots
 * with copy-on-write clones, a lock, and a consistency check. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbd/lbd.h"
#include "objstore/objstore.h"

#define MiB (1024 * 1024)

static int fail(const char *what, long long r)
{
  fprintf(stderr, "lbd-objstore-demo: %s: %s (%s)\n", what, lbd_last_error(),
          strerror((int)-r));
  exit(1);
}

#define TRY(what, expr)                                                      \
  do {                                                                       \
    long long r_ = (long long)(expr);                                        \
    if (r_ < 0)                                                              \
      fail(what, r_);                                                        \
  } while (0)

static void show_map(struct objstore_pool *pool, const char *oid,
                     uint64_t snap, const char *label)
{
  struct objstore_extent *ext;
  size_t n;
  char c;
  TRY("sparse read", objstore_sparse_read(pool, oid, snap, 0, 4 * MiB, NULL,
                                          &ext, &n));
  TRY("read", objstore_read(pool, oid, snap, 0, 1, &c));
  printf("  %-10s first byte '%c', data extents:", label, c);
  for (size_t i = 0; i < n; i++)
    printf(" [%" PRIu64 "+%" PRIu64 "]", ext[i].off, ext[i].len);
  printf("\n");
  free(ext);
}

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: %s CLUSTER-DIR SECOND-POOL-DIR\n", argv[0]);
    return 2;
  }
  struct objstore_cluster *c;
  int64_t rbd, fast;
  printf("1. Create a cluster in %s, pool \"rbd\" inside it and pool \"fast\" "
         "at %s (another disk)\n", argv[1], argv[2]);
  TRY("cluster create", objstore_cluster_create(argv[1]));
  TRY("cluster open", objstore_cluster_open(argv[1], &c));
  TRY("pool create", objstore_pool_create(c, "rbd", NULL, &rbd));
  TRY("pool create", objstore_pool_create(c, "fast", argv[2], &fast));
  struct objstore_pool_info *pools;
  size_t npools;
  TRY("pool list", objstore_pool_list(c, &pools, &npools));
  for (size_t i = 0; i < npools; i++)
    printf("  pool %" PRId64 " %-5s at %s\n", pools[i].id, pools[i].name,
           pools[i].path);
  objstore_pool_info_free(pools, npools);

  struct objstore_pool *pool;
  TRY("pool open", objstore_pool_open(c, rbd, "", &pool));
  char *buf = malloc(4 * MiB);
  if (!buf)
    return 1;
  memset(buf, 'A', 4 * MiB);

  printf("2. Write a sparse 4 MiB object: 64 KiB of 'A' at 0 and at 1 MiB\n");
  TRY("write", objstore_write(pool, "vm1.data.0", NULL, 0, buf, 65536));
  TRY("write", objstore_write(pool, "vm1.data.0", NULL, MiB, buf, 65536));
  TRY("truncate", objstore_truncate(pool, "vm1.data.0", NULL, 4 * MiB));
  show_map(pool, "vm1.data.0", OBJSTORE_SNAP_HEAD, "head");

  printf("3. An atomic compound op: create-exclusive + write + xattr + omap\n");
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_create(op, true);
  objstore_write_op_write_full(op, "header v1", 9);
  objstore_write_op_setxattr(op, "format", "1", 1);
  objstore_write_op_omap_set(op, "size", "4194304", 7);
  TRY("compound op", objstore_write_op_operate(pool, "vm1.header", op, NULL, 0));
  objstore_write_op_free(op);
  op = objstore_write_op_new();
  objstore_write_op_create(op, true);
  int r = objstore_write_op_operate(pool, "vm1.header", op, NULL, 0);
  printf("  a second create-exclusive fails as it must: %s\n",
         r == -EEXIST ? lbd_last_error() : "UNEXPECTED SUCCESS");
  objstore_write_op_free(op);

  printf("4. Snapshot, then overwrite: the snapshot keeps the old bytes\n");
  uint64_t s1;
  TRY("snap create", objstore_snap_create(pool, &s1));
  uint64_t snaps[] = {s1};
  struct objstore_snapc snapc = {s1, snaps, 1};
  memset(buf, 'B', 4096);
  TRY("write", objstore_write(pool, "vm1.data.0", &snapc, 0, buf, 4096));
  show_map(pool, "vm1.data.0", OBJSTORE_SNAP_HEAD, "head");
  show_map(pool, "vm1.data.0", s1, "snap 1");
  struct objstore_snap_set set;
  TRY("list snaps", objstore_list_snaps(pool, "vm1.data.0", &set));
  for (size_t i = 0; i < set.nclones; i++)
    printf("  clone %" PRIu64 ": %" PRIu64 " bytes, %zu extents shared with "
           "head\n", set.clones[i].cloneid, set.clones[i].size,
           set.clones[i].noverlap);
  objstore_snap_set_free(&set);

  printf("5. Take an exclusive lock; a second client is refused\n");
  struct objstore_cluster *c2;
  struct objstore_pool *pool2;
  TRY("lock", objstore_lock(pool, "vm1.header", "lbd_lock",
                            OBJSTORE_LOCK_EXCLUSIVE, "auto 1", "", "demo"));
  TRY("cluster open", objstore_cluster_open(argv[1], &c2));
  TRY("pool open", objstore_pool_open(c2, rbd, "", &pool2));
  r = objstore_lock(pool2, "vm1.header", "lbd_lock", OBJSTORE_LOCK_EXCLUSIVE,
                    "auto 2", "", "");
  printf("  %s\n", r == -EBUSY ? lbd_last_error() : "UNEXPECTED SUCCESS");
  objstore_pool_close(pool2);
  objstore_cluster_close(c2);

  printf("6. Remove the snapshot (its clone is freed) and check the pool\n");
  TRY("snap remove", objstore_snap_remove(pool, s1));
  TRY("list snaps", objstore_list_snaps(pool, "vm1.data.0", &set));
  printf("  clones left: %zu\n", set.nclones);
  objstore_snap_set_free(&set);
  struct objstore_check_report rep;
  TRY("check", objstore_pool_check(pool, false, &rep));
  printf("  %" PRIu64 " objects checked, %" PRIu64 " orphans, %" PRIu64
         " missing\n", rep.objects, rep.orphans, rep.missing);

  objstore_pool_close(pool);
  objstore_cluster_close(c);
  free(buf);
  printf("Done.\n");
  return 0;
}
