/* Execute copies no object twice: an object that a client's write copied
 * up, or that an execute killed half-way had copied, is left as it is by
 * the next execute (same object version), and an execute of an executed
 * image changes nothing; the target still reads the source's bytes at its
 * head and at its snapshot. */
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
#include "image_fixture.h"
#include "lbd/lbd.h"

#define KiB 1024ULL
#define MiB (1024 * KiB)
#define SIZE (8 * MiB)
#define OBJECT (128 * KiB) /* the target's: 64 objects */
#define DATA_PREFIX "lbd_data."

static int setup(void **state) { return image_env_setup(state, "copies"); }
static int teardown(void **state) { return image_env_teardown(state); }

/* Version of every data object of pool P2. */
struct versions {
  char names[128][96];
  uint64_t version[128];
  size_t n;
};

static void data_versions(const char *dir, struct versions *v)
{
  struct objstore_cluster *c;
  struct objstore_pool *p;
  int64_t id;
  assert_ok(objstore_cluster_open(dir, &c));
  assert_ok(objstore_pool_lookup(c, "p2", &id));
  assert_ok(objstore_pool_open(c, id, "", &p));
  struct objstore_list_entry *e;
  size_t count;
  bool more;
  assert_ok(objstore_list(p, 0, NULL, NULL, 0, &e, &count, &more));
  v->n = 0;
  for (size_t i = 0; i < count; i++) {
    if (strncmp(e[i].name, DATA_PREFIX, strlen(DATA_PREFIX)) != 0)
      continue;
    assert_true(v->n < 128);
    struct objstore_stat st;
    assert_ok(objstore_stat(p, e[i].name, OBJSTORE_SNAP_HEAD, &st));
    snprintf(v->names[v->n], sizeof v->names[0], "%s", e[i].name);
    v->version[v->n++] = st.version;
  }
  objstore_list_free(e, count);
  objstore_pool_close(p);
  objstore_cluster_close(c);
}

/* Every object of BEFORE is in AFTER with the same version. */
static void expect_untouched(const struct versions *before,
                             const struct versions *after, const char *what)
{
  for (size_t i = 0; i < before->n; i++) {
    size_t j = 0;
    while (j < after->n && strcmp(after->names[j], before->names[i]))
      j++;
    if (j == after->n)
      fail_msg("%s: object %s is gone", what, before->names[i]);
    if (after->version[j] != before->version[i])
      fail_msg("%s: object %s was written again (version %llu -> %llu)",
               what, before->names[i],
               (unsigned long long)before->version[i],
               (unsigned long long)after->version[j]);
  }
}

static void expect_bytes(lbd_ioctx_t *io, const char *snap, const char *want)
{
  lbd_image_t *img;
  assert_ok(lbd_open(io, "vm", snap, LBD_OPEN_READ_ONLY, &img));
  char *b = malloc(SIZE);
  assert_int_equal(lbd_read(img, 0, SIZE, b), (ssize_t)SIZE);
  if (memcmp(b, want, SIZE) != 0)
    fail_msg("vm@%s differs from the source's bytes", snap ? snap : "head");
  free(b);
  assert_ok(lbd_close(img));
}

static int slow(uint64_t done, uint64_t total, void *arg)
{
  (void)done, (void)total, (void)arg;
  usleep(20000);
  return 0;
}

static void child_execute(const char *dir)
{
  lbd_cluster_t *c;
  lbd_ioctx_t *p2;
  if (lbd_cluster_open(dir, false, &c) < 0 ||
      lbd_ioctx_create(c, "p2", NULL, &p2) < 0 ||
      lbd_migration_execute(p2, "vm", 1, slow, NULL) < 0)
    _exit(1);
  _exit(0);
}

static void test_execute_copies_no_object_twice(void **state)
{
  struct image_env *e = *state;
  char *s0 = malloc(SIZE), *head = malloc(SIZE);
  for (uint64_t i = 0; i < SIZE; i++)
    s0[i] = (char)(i * 2654435761u >> 13);
  memcpy(head, s0, SIZE);
  memset(head + 3 * MiB, 'h', MiB);

  /* The source: dense, a snapshot, then a changed megabyte. */
  struct lbd_image_options o = {.size = SIZE, .object_size = MiB};
  lbd_image_t *img;
  assert_ok(lbd_create(e->io, "vm", &o));
  assert_ok(lbd_open(e->io, "vm", NULL, 0, &img));
  assert_int_equal(lbd_write(img, 0, SIZE, s0), (ssize_t)SIZE);
  assert_ok(lbd_snap_create(img, "s0"));
  assert_int_equal(lbd_write(img, 3 * MiB, MiB, head + 3 * MiB),
                   (ssize_t)MiB);
  assert_ok(lbd_close(img));

  assert_ok(lbd_pool_create(e->c, "p2", NULL));
  lbd_ioctx_t *p2;
  assert_ok(lbd_ioctx_create(e->c, "p2", NULL, &p2));
  struct lbd_image_options to = {.object_size = OBJECT};
  assert_ok(lbd_migration_prepare(e->io, "vm", p2, "vm", &to, false));

  /* A client's writes copy three objects up. */
  assert_ok(lbd_open(p2, "vm", NULL, 0, &img));
  uint64_t offs[] = {0, 40 * OBJECT + 100, 63 * OBJECT + OBJECT - 10};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(lbd_write(img, offs[i], 10, "0123456789"), 10);
    memcpy(head + offs[i], "0123456789", 10);
  }
  assert_ok(lbd_close(img));
  struct versions *v0 = malloc(sizeof *v0), *v1 = malloc(sizeof *v1),
                  *v2 = malloc(sizeof *v2), *v3 = malloc(sizeof *v3);
  data_versions(e->dir, v0);
  assert_int_equal(v0->n, 3);

  /* An execute killed after it copied some objects. */
  lbd_ioctx_destroy(p2);
  lbd_ioctx_destroy(e->io);
  lbd_cluster_close(e->c);
  pid_t pid = fork();
  if (pid == 0)
    child_execute(e->dir);
  for (int i = 0; i < 2000; i++) {
    data_versions(e->dir, v1);
    if (v1->n >= 20)
      break;
    usleep(5000);
  }
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFSIGNALED(status)); /* killed half-way, not done */
  data_versions(e->dir, v1);
  assert_true(v1->n >= 20 && v1->n < 64);
  expect_untouched(v0, v1, "the killed execute");

  /* The next execute copies only what is missing. */
  assert_ok(lbd_cluster_open(e->dir, false, &e->c));
  assert_ok(lbd_ioctx_create(e->c, "rbd", NULL, &e->io));
  assert_ok(lbd_ioctx_create(e->c, "p2", NULL, &p2));
  assert_ok(lbd_migration_execute(p2, "vm", 4, NULL, NULL));
  data_versions(e->dir, v2);
  assert_int_equal(v2->n, 64);
  expect_untouched(v1, v2, "the resumed execute");

  /* Executing an executed image copies nothing. */
  assert_ok(lbd_migration_execute(p2, "vm", 4, NULL, NULL));
  data_versions(e->dir, v3);
  assert_int_equal(v3->n, 64);
  expect_untouched(v2, v3, "an execute of an executed image");

  expect_bytes(p2, NULL, head);
  expect_bytes(p2, "s0", s0);
  assert_ok(lbd_migration_commit(p2, "vm", NULL, NULL));
  expect_bytes(p2, NULL, head);
  expect_bytes(p2, "s0", s0);
  lbd_ioctx_destroy(p2);
  free(v0), free(v1), free(v2), free(v3);
  free(s0), free(head);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_execute_copies_no_object_twice,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
