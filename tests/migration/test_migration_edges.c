/* Live migration edge cases found in review: each test pins one bug.
 *  - a rollback of the target to an imported snapshot before execute reads
 *    the source as it was at that snapshot, not its head;
 *  - abort after the target shrank (and grew back) gives the zeroes back
 *    to the source too;
 *  - an in-place prepare (same pool, same name) cut after the target took
 *    the name resumes when run again;
 *  - an abort cut after the target's header went (its name left) finishes;
 *  - a client (another process) writes the target while execute runs;
 *  - the first writer after commit does not trust an object map that
 *    execute (without the exclusive lock) never updated;
 *  - execute copies a target object that spans many small source objects
 *    with data apart (the copy-up's question to the source lists it);
 *  - a committed target's header keeps no migration keys;
 *  - a commit cut before its marker went is finished by the target's name. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "../objstore/fixture.h"
#include "image/image.h"
#include "image_fixture.h"
#include "lbd/lbd.h"

#define KiB 1024ULL
#define MiB (1024 * KiB)
#define SIZE (12 * MiB + 8 * KiB)
#define NSNAPS 2

static int setup(void **state)
{
  return image_env_setup(state, "migration-edges");
}
static int teardown(void **state) { return image_env_teardown(state); }

static uint64_t rng = 0x2545f4914f6cdd1dULL;
static uint64_t rnd(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void fill_random(char *b, uint64_t len)
{
  for (uint64_t i = 0; i < len; i++)
    b[i] = (char)(rnd() >> 56);
}

struct model {
  char *snap[NSNAPS];
  uint64_t snap_size[NSNAPS];
  int nsnaps;
  char *head;
  uint64_t size;
};

static void model_free(struct model *m)
{
  for (int i = 0; i < m->nsnaps; i++)
    free(m->snap[i]);
  free(m->head);
  memset(m, 0, sizeof *m);
}

static void write_model(lbd_image_t *img, struct model *m, uint64_t off,
                        uint64_t len)
{
  char *b = malloc(len);
  fill_random(b, len);
  assert_int_equal(lbd_write(img, off, len, b), (ssize_t)len);
  memcpy(m->head + off, b, len);
  free(b);
}

static void snap_model(lbd_image_t *img, struct model *m, const char *name)
{
  assert_ok(lbd_snap_create(img, name));
  m->snap[m->nsnaps] = malloc(m->size);
  memcpy(m->snap[m->nsnaps], m->head, m->size);
  m->snap_size[m->nsnaps++] = m->size;
}

/* Source "vm" with snapshots s0 and s1 that differ from its head. */
static void make_source(lbd_ioctx_t *io, struct model *m)
{
  struct lbd_image_options o = {.size = SIZE, .object_size = 2 * MiB};
  lbd_image_t *img;
  memset(m, 0, sizeof *m);
  m->size = SIZE;
  m->head = calloc(1, 2 * SIZE);
  assert_ok(lbd_create(io, "vm", &o));
  assert_ok(lbd_open(io, "vm", NULL, 0, &img));
  write_model(img, m, 0, 3 * MiB);
  write_model(img, m, 7 * MiB, SIZE - 7 * MiB);
  snap_model(img, m, "s0");
  write_model(img, m, MiB, 100 * KiB);
  write_model(img, m, 9 * MiB, 2 * MiB);
  snap_model(img, m, "s1");
  write_model(img, m, 4 * MiB, MiB);
  write_model(img, m, 11 * MiB, 5000);
  assert_ok(lbd_close(img));
}

/* make_source, then its migration to pool p2 as DST, with objects of
 * OBJECT_SIZE bytes (0: the source's).  The caller destroys the pool's
 * handle. */
static lbd_ioctx_t *prepare_source(struct image_env *e, struct model *m,
                                   uint64_t object_size, const char *dst)
{
  make_source(e->io, m);
  lbd_ioctx_t *p2 = image_env_pool(e, "p2");
  struct lbd_image_options o = {.object_size = object_size};
  assert_ok(lbd_migration_prepare(e->io, "vm", p2, dst, &o, false));
  return p2;
}

static void expect_snaps(lbd_ioctx_t *io, const char *name,
                         const struct model *m)
{
  for (int i = 0; i < m->nsnaps; i++) {
    char s[8];
    snprintf(s, sizeof s, "s%d", i);
    expect_image_bytes(io, name, s, m->snap[i], m->snap_size[i]);
  }
}

/* Rolling the target back to a snapshot it took over from the source,
 * before execute copied anything: the head reads that snapshot. */
static void test_rollback_target_before_execute(void **state)
{
  struct image_env *e = *state;
  struct model m;
  lbd_ioctx_t *p2 = prepare_source(e, &m, MiB, "vm");
  lbd_image_t *img;
  assert_ok(lbd_open(p2, "vm", NULL, 0, &img));
  write_model(img, &m, 5 * MiB + 77, 3000); /* one object copied up */
  assert_ok(lbd_snap_rollback(img, "s0", NULL, NULL));
  assert_ok(lbd_close(img));
  memcpy(m.head, m.snap[0], m.snap_size[0]);
  expect_image_bytes(p2, "vm", NULL, m.head, m.size);
  expect_snaps(p2, "vm", &m);
  assert_ok(lbd_migration_execute(p2, "vm", 2, NULL, NULL));
  assert_ok(lbd_migration_commit(p2, "vm", NULL, NULL));
  expect_image_bytes(p2, "vm", NULL, m.head, m.size);
  expect_snaps(p2, "vm", &m);
  lbd_ioctx_destroy(p2);
  model_free(&m);
}

/* A target shrunk and grown back reads zeroes past the shrink: after
 * abort, so does the source. */
static void test_abort_after_shrink(void **state)
{
  struct image_env *e = *state;
  struct model m;
  lbd_ioctx_t *p2 = prepare_source(e, &m, 0, "vm");
  lbd_image_t *img;
  assert_ok(lbd_open(p2, "vm", NULL, 0, &img));
  assert_ok(lbd_resize(img, MiB + 4 * KiB));
  assert_ok(lbd_resize(img, SIZE));
  memset(m.head + MiB + 4 * KiB, 0, SIZE - MiB - 4 * KiB);
  write_model(img, &m, 6 * MiB, 4096); /* and a write past the shrink */
  assert_ok(lbd_close(img));
  expect_image_bytes(p2, "vm", NULL, m.head, m.size);
  assert_ok(lbd_migration_abort(p2, "vm", NULL, NULL));
  expect_image_bytes(e->io, "vm", NULL, m.head, m.size);
  expect_snaps(e->io, "vm", &m);
  lbd_ioctx_destroy(p2);
  model_free(&m);
}

/* Put the migration state of both images back to STATE, as a crash right
 * before prepare's last steps leaves them. */
static void set_states(lbd_ioctx_t *dst_io, const char *dst_id,
                       lbd_ioctx_t *src_io, const char *src_id,
                       const char *state)
{
  struct image_header h;
  assert_ok(image_header_read(dst_io->pool, dst_id, &h));
  snprintf(h.migration.state, sizeof h.migration.state, "%s", state);
  assert_ok(image_header_set_migration(dst_io->pool, dst_id, &h));
  assert_ok(image_header_read(src_io->pool, src_id, &h));
  snprintf(h.migration.state, sizeof h.migration.state, "%s", state);
  assert_ok(image_header_set_migration(src_io->pool, src_id, &h));
}

/* rbd migration prepare SRC (no target name: in place).  A crash after the
 * target took the name, before both were "prepared": prepare again
 * finishes it. */
static void test_prepare_in_place_resumes(void **state)
{
  struct image_env *e = *state;
  struct model m;
  make_source(e->io, &m);
  struct lbd_image_options o = {.object_size = 4 * MiB};
  assert_ok(lbd_migration_prepare(e->io, "vm", e->io, "vm", &o, false));
  struct lbd_migration_status st;
  assert_ok(lbd_migration_status(e->io, "vm", &st));
  set_states(e->io, st.dest_id, e->io, st.source_id, "preparing");
  assert_ok(lbd_migration_status(e->io, "vm", &st));
  assert_string_equal(st.state, "preparing");
  if (lbd_migration_prepare(e->io, "vm", e->io, "vm", &o, false) < 0)
    fail_msg("prepare again: %s", lbd_last_error());
  assert_ok(lbd_migration_status(e->io, "vm", &st));
  assert_string_equal(st.state, "prepared");
  expect_image_bytes(e->io, "vm", NULL, m.head, m.size);
  expect_snaps(e->io, "vm", &m);
  assert_ok(lbd_migration_execute(e->io, "vm", 2, NULL, NULL));
  assert_ok(lbd_migration_commit(e->io, "vm", NULL, NULL));
  expect_image_bytes(e->io, "vm", NULL, m.head, m.size);
  expect_snaps(e->io, "vm", &m);
  model_free(&m);
}

/* Abort cut after the target's storage (header too) was removed, before
 * its name was: abort again (by the name both share, in place) finishes,
 * and the source gets its name back. */
static void test_abort_resumes_after_target_header_gone(void **state)
{
  struct image_env *e = *state;
  struct model m;
  make_source(e->io, &m);
  struct lbd_image_options o = {.object_size = MiB};
  assert_ok(lbd_migration_prepare(e->io, "vm", e->io, "vm", &o, false));
  lbd_image_t *img;
  assert_ok(lbd_open(e->io, "vm", NULL, 0, &img));
  write_model(img, &m, 3 * MiB, 8192);
  assert_ok(lbd_close(img));
  struct lbd_migration_status st;
  assert_ok(lbd_migration_status(e->io, "vm", &st));
  /* What abort does up to the crash: copy the target's writes back (here
   * by hand: the write above is the only one), mark the target aborting,
   * remove its storage; its name is left. */
  lbd_image_t *src;
  assert_ok(image_open(e->io, NULL, st.source_id, NULL, OBJSTORE_SNAP_HEAD,
                       IMAGE_OPEN_MIGRATION, 0, &src));
  assert_int_equal(lbd_write(src, 3 * MiB, 8192, m.head + 3 * MiB), 8192);
  assert_ok(lbd_close(src));
  struct image_header h;
  assert_ok(image_header_read(e->io->pool, st.dest_id, &h));
  snprintf(h.migration.state, sizeof h.migration.state, "aborting");
  assert_ok(image_header_set_migration(e->io->pool, st.dest_id, &h));
  assert_ok(image_header_read(e->io->pool, st.dest_id, &h));
  assert_ok(image_remove_storage(e->io, st.dest_id, &h, NULL, NULL));
  if (lbd_migration_abort(e->io, "vm", NULL, NULL) < 0)
    fail_msg("abort again: %s", lbd_last_error());
  expect_image_bytes(e->io, "vm", NULL, m.head, m.size);
  expect_snaps(e->io, "vm", &m);
  assert_ok(lbd_open(e->io, "vm", NULL, 0, &img)); /* read-write again */
  assert_ok(lbd_close(img));
  model_free(&m);
}

/* The same, in two pools, aborted by the source's name: the target's name
 * goes too. */
static void test_abort_by_source_drops_target_name(void **state)
{
  struct image_env *e = *state;
  struct model m;
  lbd_ioctx_t *p2 = prepare_source(e, &m, 0, "moved");
  struct lbd_migration_status st;
  assert_ok(lbd_migration_status(e->io, "vm", &st));
  struct image_header h;
  assert_ok(image_header_read(p2->pool, st.dest_id, &h));
  snprintf(h.migration.state, sizeof h.migration.state, "aborting");
  assert_ok(image_header_set_migration(p2->pool, st.dest_id, &h));
  assert_ok(image_header_read(p2->pool, st.dest_id, &h));
  assert_ok(image_remove_storage(p2, st.dest_id, &h, NULL, NULL));
  assert_ok(lbd_migration_abort(e->io, "vm", NULL, NULL));
  expect_image_bytes(e->io, "vm", NULL, m.head, m.size);
  char **names;
  size_t n;
  assert_ok(lbd_list(p2, &names, &n));
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], "moved") == 0)
      fail_msg("the aborted target's name is left in p2");
  lbd_names_free(names, n);
  /* and the name can be used again */
  struct lbd_image_options o = {0};
  assert_ok(lbd_migration_prepare(e->io, "vm", p2, "moved", &o, false));
  assert_ok(lbd_migration_abort(p2, "moved", NULL, NULL));
  lbd_ioctx_destroy(p2);
  model_free(&m);
}

/* ---- a client in another process writes while execute runs ------------ */

static int slow(uint64_t done, uint64_t total, void *arg)
{
  (void)done, (void)total, (void)arg;
  usleep(100 * 1000);
  return 0;
}

static void test_client_writes_during_execute(void **state)
{
  struct image_env *e = *state;
  struct model m;
  lbd_ioctx_t *p2 = prepare_source(e, &m, 512 * KiB, "vm");
  lbd_ioctx_destroy(p2);
  lbd_ioctx_destroy(e->io);
  lbd_cluster_close(e->c);
  pid_t pid = fork();
  if (pid == 0) {
    lbd_cluster_t *c;
    lbd_ioctx_t *io;
    if (lbd_cluster_open(e->dir, false, &c) < 0 ||
        lbd_ioctx_create(c, "p2", NULL, &io) < 0 ||
        lbd_migration_execute(io, "vm", 1, slow, NULL) < 0)
      _exit(1);
    _exit(0);
  }
  assert_ok(lbd_cluster_open(e->dir, false, &e->c));
  assert_ok(lbd_ioctx_create(e->c, "rbd", NULL, &e->io));
  p2 = image_env_pool(e, "p2");
  struct lbd_migration_status st = {0};
  for (int i = 0; i < 500 && strcmp(st.state, "executing"); i++) {
    usleep(10 * 1000);
    assert_ok(lbd_migration_status(p2, "vm", &st));
  }
  assert_string_equal(st.state, "executing");
  usleep(300 * 1000); /* execute has its image open by now */
  lbd_image_t *img;
  assert_ok(lbd_open(p2, "vm", NULL, 0, &img));
  char *b = malloc(MiB);
  fill_random(b, MiB);
  ssize_t w = lbd_write(img, SIZE - 2 * MiB, MiB, b);
  if (w != (ssize_t)MiB)
    fail_msg("a client write during execute: %s", lbd_last_error());
  memcpy(m.head + SIZE - 2 * MiB, b, MiB);
  assert_ok(lbd_discard(img, 64 * KiB, 64 * KiB));
  memset(m.head + 64 * KiB, 0, 64 * KiB);
  free(b);
  assert_ok(lbd_close(img));
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  expect_image_bytes(p2, "vm", NULL, m.head, m.size);
  assert_ok(lbd_migration_commit(p2, "vm", NULL, NULL));
  expect_image_bytes(p2, "vm", NULL, m.head, m.size);
  expect_snaps(p2, "vm", &m);
  /* The first writer after commit trusts the object map: it must know
   * every object execute copied in without it. */
  assert_ok(lbd_open(p2, "vm", NULL, 0, &img));
  assert_int_equal(lbd_write(img, 0, 10, m.head), 10);
  b = malloc(m.size);
  assert_int_equal(lbd_read(img, 0, m.size, b), (ssize_t)m.size);
  assert_memory_equal(b, m.head, m.size);
  free(b);
  uint64_t wrong;
  assert_ok(lbd_object_map_check(img, &wrong));
  assert_int_equal(wrong, 0);
  assert_ok(lbd_close(img));
  lbd_ioctx_destroy(p2);
  model_free(&m);
}

/* Nobody writes the target during the migration: execute copies every
 * object in without the exclusive lock, so the first writer after commit
 * must not trust the object map made empty at prepare. */
static void test_object_map_after_commit_without_clients(void **state)
{
  struct image_env *e = *state;
  struct model m;
  lbd_ioctx_t *p2 = prepare_source(e, &m, MiB, "vm");
  assert_ok(lbd_migration_execute(p2, "vm", 2, NULL, NULL));
  assert_ok(lbd_migration_commit(p2, "vm", NULL, NULL));
  lbd_image_t *img;
  assert_ok(lbd_open(p2, "vm", NULL, 0, &img));
  write_model(img, &m, 5 * MiB + 3, 10); /* takes the lock and the map */
  char *b = malloc(m.size);
  assert_int_equal(lbd_read(img, 0, m.size, b), (ssize_t)m.size);
  for (uint64_t i = 0; i < m.size; i++)
    if (b[i] != m.head[i])
      fail_msg("vm at %llu: 0x%02x, want 0x%02x", (unsigned long long)i,
               b[i] & 0xff, m.head[i] & 0xff);
  free(b);
  uint64_t wrong;
  assert_ok(lbd_object_map_check(img, &wrong));
  assert_int_equal(wrong, 0);
  assert_ok(lbd_close(img));
  expect_image_bytes(p2, "vm", NULL, m.head, m.size);
  expect_snaps(p2, "vm", &m);
  lbd_ioctx_destroy(p2);
  model_free(&m);
}

/* Number of the keys of the header of image NAME that start with PREFIX. */
static size_t header_keys(lbd_ioctx_t *io, const char *name,
                          const char *prefix)
{
  lbd_image_t *img;
  assert_ok(lbd_open(io, name, NULL, LBD_OPEN_READ_ONLY, &img));
  char after[OBJSTORE_MAX_OMAP_KEY + 1] = "";
  size_t found = 0;
  bool more = true;
  while (more) {
    struct objstore_kv *kvs;
    size_t n;
    assert_ok(objstore_omap_get(img->io->pool, img->header_oid, after, 64,
                                &kvs, &n, &more));
    for (size_t i = 0; i < n; i++)
      found += strncmp(kvs[i].key, prefix, strlen(prefix)) == 0;
    if (n)
      snprintf(after, sizeof after, "%s", kvs[n - 1].key);
    objstore_kv_free(kvs, n);
  }
  assert_ok(lbd_close(img));
  return found;
}

/* Target vm of P2 is committed: no migration key left, the model's bytes
 * at its head and snapshots.  Frees P2 and M. */
static void expect_committed(lbd_ioctx_t *p2, struct model *m)
{
  assert_int_equal(header_keys(p2, "vm", "migration_"), 0);
  expect_image_bytes(p2, "vm", NULL, m->head, m->size);
  expect_snaps(p2, "vm", m);
  lbd_ioctx_destroy(p2);
  model_free(m);
}

/* A committed target keeps no trace of its migration in its header: not
 * the state, nor which source snapshot each of its snapshots came from. */
static void test_commit_leaves_no_migration_keys(void **state)
{
  struct image_env *e = *state;
  struct model m;
  lbd_ioctx_t *p2 = prepare_source(e, &m, MiB, "vm");
  assert_int_equal(header_keys(p2, "vm", MIGRATION_SNAP_PREFIX), NSNAPS);
  assert_ok(lbd_migration_execute(p2, "vm", 2, NULL, NULL));
  assert_ok(lbd_migration_commit(p2, "vm", NULL, NULL));
  expect_committed(p2, &m);
}

/* A commit cut after the target let go of its migration, before the
 * marker under the source's name went: status by the source's name says
 * "committing", and a commit by the target's name finishes it (the target
 * names its source until the marker is gone). */
static void test_commit_cut_before_marker_went(void **state)
{
  struct image_env *e = *state;
  struct model m;
  lbd_ioctx_t *p2 = prepare_source(e, &m, MiB, "vm");
  assert_ok(lbd_migration_execute(p2, "vm", 2, NULL, NULL));
  struct lbd_migration_status st;
  assert_ok(lbd_migration_status(p2, "vm", &st));
  assert_ok(lbd_migration_commit(p2, "vm", NULL, NULL));
  /* Put back what the cut left: the marker and the target's peer keys. */
  char v[128], pool[24], hoid[64];
  snprintf(v, sizeof v, "%lld %s ", (long long)p2->pool_id, st.dest_id);
  assert_ok(objstore_omap_set(e->io->pool, "lbd_migration_commits", "vm", v,
                              strlen(v)));
  snprintf(pool, sizeof pool, "%lld", (long long)e->io->pool_id);
  snprintf(hoid, sizeof hoid, IMAGE_HEADER_PREFIX "%s", st.dest_id);
  assert_ok(objstore_omap_set(p2->pool, hoid, "migration_pool", pool,
                              strlen(pool)));
  assert_ok(objstore_omap_set(p2->pool, hoid, "migration_ns", "", 0));
  assert_ok(objstore_omap_set(p2->pool, hoid, "migration_image",
                              st.source_id, strlen(st.source_id)));
  assert_ok(objstore_omap_set(p2->pool, hoid, "migration_name", "vm", 2));
  assert_ok(lbd_migration_status(e->io, "vm", &st));
  assert_string_equal(st.state, "committing");
  assert_ok(lbd_migration_status(p2, "vm", &st));
  assert_string_equal(st.state, "committing");
  /* no new migration of it before that commit ends */
  struct lbd_image_options o = {0};
  expect_lbd_error(lbd_migration_prepare(p2, "vm", p2, "vm2", &o, false),
                   EBUSY, "a migration of a target still committing",
                   "lbd migration commit vm");
  assert_ok(lbd_migration_commit(p2, "vm", NULL, NULL));
  expect_lbd_error(lbd_migration_status(e->io, "vm", &st), ENOENT,
                   "status by the source's name after the commit", "vm");
  expect_lbd_error(lbd_migration_status(p2, "vm", &st), EINVAL,
                   "status by the target's name after the commit",
                   "not being migrated");
  expect_committed(p2, &m);
}

/* A target object spans more than 64 objects of the source: whether the
 * source has data there is answered by a listing of the source's objects,
 * and data in objects apart (0, 2 and 4) must count. */
static void test_execute_many_small_source_objects(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options so = {.size = MiB, .object_size = 4 * KiB};
  lbd_image_t *img;
  char *want = calloc(1, MiB);
  assert_ok(lbd_create(e->io, "vm", &so));
  assert_ok(lbd_open(e->io, "vm", NULL, 0, &img));
  for (uint64_t off = 0; off <= 16 * KiB; off += 8 * KiB) {
    fill_random(want + off, 4 * KiB);
    assert_int_equal(lbd_write(img, off, 4 * KiB, want + off),
                     (ssize_t)(4 * KiB));
  }
  assert_ok(lbd_close(img));
  lbd_ioctx_t *p2 = image_env_pool(e, "p2");
  struct lbd_image_options o = {.object_size = MiB};
  assert_ok(lbd_migration_prepare(e->io, "vm", p2, "vm", &o, false));
  assert_ok(lbd_migration_execute(p2, "vm", 1, NULL, NULL));
  assert_ok(lbd_migration_commit(p2, "vm", NULL, NULL));
  expect_image_bytes(p2, "vm", NULL, want, MiB);
  lbd_ioctx_destroy(p2);
  free(want);
}

struct diff_seen {
  uint64_t off;  /* the byte asked about */
  bool reported, exists;
};

static int diff_probe(uint64_t off, uint64_t len, bool exists, void *arg)
{
  struct diff_seen *d = arg;
  if (d->off >= off && d->off - off < len) {
    d->reported = true;
    d->exists = exists;
  }
  return 0;
}

/* A source shrunk before prepare, its target grown after: the snapshot
 * still has data past the target's (head) overlap, which reads zeroes.  A diff
 * of the target from that snapshot must report the zeroes (it looked
 * only under the head's overlap: lbd-fsx seed 6009, op 753). */
static void test_diff_from_snapshot_past_head_overlap(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options so = {.size = 4 * MiB, .object_size = MiB};
  lbd_image_t *img;
  char buf[4096];
  fill_random(buf, sizeof buf);
  assert_ok(lbd_create(e->io, "vm", &so));
  assert_ok(lbd_open(e->io, "vm", NULL, 0, &img));
  assert_int_equal(lbd_write(img, 3 * MiB, sizeof buf, buf),
                   (ssize_t)sizeof buf);
  assert_ok(lbd_snap_create(img, "s"));
  assert_ok(lbd_resize(img, MiB));
  assert_ok(lbd_close(img));
  lbd_ioctx_t *p2 = image_env_pool(e, "p2");
  struct lbd_image_options o = {.object_size = 512 * KiB};
  assert_ok(lbd_migration_prepare(e->io, "vm", p2, "vm", &o, false));
  assert_ok(lbd_open(p2, "vm", NULL, 0, &img));
  assert_ok(lbd_resize(img, 4 * MiB)); /* the overlap stays 1 MiB */
  assert_ok(lbd_close(img));
  for (int executed = 0; executed < 2; executed++) {
    assert_ok(lbd_open(p2, "vm", NULL, LBD_OPEN_READ_ONLY, &img));
    struct diff_seen d = {3 * MiB + 100, false, false};
    assert_ok(lbd_diff_iterate(img, "s", 0, 4 * MiB, false, false,
                               diff_probe, &d));
    assert_ok(lbd_close(img));
    if (!d.reported || d.exists)
      fail_msg("%s execute: the diff from s %s", executed ? "after" : "before",
               d.reported ? "says data where zeroes are" : "misses the "
               "zeroed bytes past the head's overlap");
    if (!executed)
      assert_ok(lbd_migration_execute(p2, "vm", 0, NULL, NULL));
  }
  lbd_ioctx_destroy(p2);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_rollback_target_before_execute,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort_after_shrink,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_prepare_in_place_resumes,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort_resumes_after_target_header_gone,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort_by_source_drops_target_name,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_client_writes_during_execute,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_object_map_after_commit_without_clients,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_commit_leaves_no_migration_keys,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_commit_cut_before_marker_went,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_diff_from_snapshot_past_head_overlap,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_execute_many_small_source_objects,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
