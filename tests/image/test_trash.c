/* The trash: move, list, restore, remove, purge; migration entries; bad
 * input; and every state a crash between two steps can leave, finished by
 * running the same call again. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "../objstore/fixture.h"
#include "image/image.h"
#include "image/trash.h"
#include "image_fixture.h"
#include "lbd/lbd.h"

#define MiB (1ULL << 20)
#define SIZE (8 * MiB)
#define OBJ (1 * MiB)

static int setup(void **state) { return image_env_setup(state, "image-trash"); }
static int teardown(void **state) { return image_env_teardown(state); }
#define expect_error expect_lbd_error

/* Fill BUF with a pattern of SEED. */
static void pattern(unsigned char *buf, size_t len, unsigned seed)
{
  for (size_t i = 0; i < len; i++)
    buf[i] = (unsigned char)((i * 31 + seed * 7 + (i >> 12)) & 0xff);
}

/* Create NAME with 3 objects written (SEED's pattern at 0, 3.5 MiB, 7 MiB)
 * and return its id. */
static void make_image(struct image_env *e, const char *name, unsigned seed,
                       char id[32])
{
  struct lbd_image_options o = {.size = SIZE, .object_size = OBJ};
  lbd_image_t *img;
  struct lbd_image_info info;
  unsigned char buf[64 * 1024];
  assert_ok(lbd_create(e->io, name, &o));
  assert_ok(lbd_open(e->io, name, NULL, 0, &img));
  pattern(buf, sizeof buf, seed);
  const uint64_t offs[] = {0, 3 * MiB + MiB / 2, 7 * MiB};
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(lbd_write(img, offs[i], sizeof buf, buf), sizeof buf);
  assert_ok(lbd_stat(img, &info));
  assert_ok(lbd_close(img));
  snprintf(id, 32, "%s", info.id);
}

/* NAME opens and holds SEED's data, and zeroes elsewhere. */
static void check_image(struct image_env *e, const char *name, unsigned seed)
{
  lbd_image_t *img;
  unsigned char want[64 * 1024], got[64 * 1024], zero[64 * 1024] = {0};
  assert_ok(lbd_open(e->io, name, NULL, LBD_OPEN_READ_ONLY, &img));
  pattern(want, sizeof want, seed);
  const uint64_t offs[] = {0, 3 * MiB + MiB / 2, 7 * MiB};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(lbd_read(img, offs[i], sizeof got, got), sizeof got);
    assert_memory_equal(got, want, sizeof got);
  }
  assert_int_equal(lbd_read(img, 2 * MiB, sizeof got, got), sizeof got);
  assert_memory_equal(got, zero, sizeof got);
  assert_ok(lbd_close(img));
}

/* The data objects of image ID in the pool. */
static size_t data_objects(struct image_env *e, const char *id)
{
  struct objstore_list_entry *l;
  size_t n, count = 0;
  bool more;
  char prefix[64];
  snprintf(prefix, sizeof prefix, "lbd_data.%s.", id);
  assert_ok(objstore_list(e->io->pool, 0, NULL, NULL, 0, &l, &n, &more));
  for (size_t i = 0; i < n; i++)
    count += strncmp(l[i].name, prefix, strlen(prefix)) == 0;
  objstore_list_free(l, n);
  return count;
}

static bool header_exists(struct image_env *e, const char *id)
{
  char oid[64];
  struct objstore_stat st;
  snprintf(oid, sizeof oid, "lbd_header.%s", id);
  return objstore_stat(e->io->pool, oid, OBJSTORE_SNAP_HEAD, &st) == 0;
}

/* "name1 name2 ..." of lbd_list. */
static void expect_images(struct image_env *e, const char *want)
{
  char **names, got[1024] = "";
  size_t n;
  assert_ok(lbd_list(e->io, &names, &n));
  for (size_t i = 0; i < n; i++)
    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s",
             i ? " " : "", names[i]);
  lbd_names_free(names, n);
  assert_string_equal(got, want);
}

/* "name:source ..." of lbd_trash_list(ALL), in id order. */
static void expect_trash(struct image_env *e, bool all, const char *want)
{
  struct lbd_trash_info *t;
  size_t n;
  char got[1024] = "";
  assert_ok(lbd_trash_list(e->io, all, &t, &n));
  for (size_t i = 0; i < n; i++) {
    if (i && strcmp(t[i - 1].id, t[i].id) >= 0)
      fail_msg("trash list not sorted by id");
    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s:%s",
             i ? " " : "", t[i].name, lbd_trash_source_name(t[i].source));
  }
  lbd_trash_list_free(t, n);
  assert_string_equal(got, want);
}

/* The raw lbd_trash entry of ID, for crash simulations. */
static void set_entry(struct image_env *e, const char *id, const char *value)
{
  char key[32];
  snprintf(key, sizeof key, "id_%s", id);
  assert_ok(objstore_omap_set(e->io->pool, IMAGE_TRASH, key, value,
                              strlen(value)));
}

static void dir_remove(struct image_env *e, const char *name, const char *id)
{
  assert_ok(image_dir_remove(e->io->pool, name, id));
}

/* ---- tests ---------------------------------------------------------------- */

static void test_move_restore(void **state)
{
  struct image_env *e = *state;
  char id[32];
  make_image(e, "img", 1, id);
  int64_t before = (int64_t)time(NULL);
  assert_ok(lbd_trash_move(e->io, "img", 0));
  int64_t after = (int64_t)time(NULL);
  expect_images(e, "");
  expect_trash(e, false, "img:user");
  struct lbd_trash_info info;
  assert_ok(lbd_trash_get(e->io, id, &info));
  assert_string_equal(info.id, id);
  assert_string_equal(info.name, "img");
  assert_int_equal(info.source, LBD_TRASH_SOURCE_USER);
  assert_true(info.deletion_time >= before && info.deletion_time <= after);
  assert_int_equal(info.deferment_end_time, info.deletion_time);
  /* Not openable, not removable, not renamable by name. */
  lbd_image_t *img = NULL;
  expect_error(lbd_open(e->io, "img", NULL, 0, &img), ENOENT, "open trashed",
               "img");
  expect_error(lbd_remove(e->io, "img"), ENOENT, "remove trashed", NULL);
  expect_error(lbd_trash_move(e->io, "img", 0), ENOENT, "move twice", "img");
  /* The data stays. */
  assert_int_equal(data_objects(e, id), 3);
  /* The name is free for a new image meanwhile. */
  char id2[32];
  make_image(e, "img", 2, id2);
  expect_error(lbd_trash_restore(e->io, id, NULL), EEXIST, "restore onto a "
               "taken name", "img");
  expect_trash(e, false, "img:user");
  check_image(e, "img", 2);
  /* Under a new name. */
  assert_ok(lbd_trash_restore(e->io, id, "old"));
  expect_images(e, "img old");
  expect_trash(e, false, "");
  check_image(e, "old", 1);
  check_image(e, "img", 2);
  expect_error(lbd_trash_restore(e->io, id, NULL), ENOENT, "restore twice",
               id);
  /* And back under its own name. */
  assert_ok(lbd_trash_move(e->io, "old", 3600));
  assert_ok(lbd_trash_restore(e->io, id, NULL));
  expect_images(e, "img old");
  check_image(e, "old", 1);
}

static void test_remove_and_purge(void **state)
{
  struct image_env *e = *state;
  char a[32], b[32], c[32];
  make_image(e, "a", 1, a);
  make_image(e, "b", 2, b);
  make_image(e, "c", 3, c);
  assert_ok(lbd_trash_move(e->io, "a", 0));
  assert_ok(lbd_trash_move(e->io, "b", 3600));
  assert_ok(lbd_trash_move(e->io, "c", 7200));
  struct lbd_trash_info info;
  assert_ok(lbd_trash_get(e->io, b, &info));
  assert_int_equal(info.deferment_end_time, info.deletion_time + 3600);
  /* b is protected: refused without force, and untouched. */
  expect_error(lbd_trash_remove(e->io, b, false), EPERM, "remove protected",
               "--force");
  assert_int_equal(data_objects(e, b), 3);
  assert_true(header_exists(e, b));
  /* purge takes only the expired a. */
  size_t removed = 99;
  assert_ok(lbd_trash_purge(e->io, 0, &removed));
  assert_int_equal(removed, 1);
  assert_int_equal(data_objects(e, a), 0);
  assert_false(header_exists(e, a));
  expect_error(lbd_trash_get(e->io, a, &info), ENOENT, "get purged", a);
  expect_trash(e, false,
               strcmp(b, c) < 0 ? "b:user c:user" : "c:user b:user");
  /* force removes b at once. */
  assert_ok(lbd_trash_remove(e->io, b, true));
  assert_int_equal(data_objects(e, b), 0);
  assert_false(header_exists(e, b));
  expect_error(lbd_trash_remove(e->io, b, true), ENOENT, "remove twice", b);
  /* purge with a later time takes c. */
  assert_ok(lbd_trash_purge(e->io, (int64_t)time(NULL) + 7300, &removed));
  assert_int_equal(removed, 1);
  assert_int_equal(data_objects(e, c), 0);
  expect_trash(e, true, "");
  expect_images(e, "");
  /* purge of an empty trash. */
  assert_ok(lbd_trash_purge(e->io, 0, &removed));
  assert_int_equal(removed, 0);
}

static void test_open_image(void **state)
{
  struct image_env *e = *state;
  char id[32];
  make_image(e, "busy", 4, id);
  lbd_image_t *img;
  assert_ok(lbd_open(e->io, "busy", NULL, LBD_OPEN_READ_ONLY, &img));
  expect_error(lbd_trash_move(e->io, "busy", 0), EBUSY, "move open image",
               "open");
  expect_trash(e, true, "");
  assert_ok(lbd_close(img));
  check_image(e, "busy", 4);
  assert_ok(lbd_trash_move(e->io, "busy", 0));
  expect_trash(e, true, "busy:user");
}

static void test_migration_entries(void **state)
{
  struct image_env *e = *state;
  char id[32], id2[32];
  make_image(e, "src", 5, id);
  make_image(e, "usr", 6, id2);
  assert_ok(image_trash_move(e->io, "src", LBD_TRASH_SOURCE_MIGRATION, 0));
  assert_ok(lbd_trash_move(e->io, "usr", 0));
  expect_images(e, "");
  expect_trash(e, false, "usr:user");
  char want[64];
  snprintf(want, sizeof want, strcmp(id, id2) < 0 ? "src:migration usr:user"
                                                  : "usr:user src:migration");
  expect_trash(e, true, want);
  expect_error(lbd_trash_restore(e->io, id, NULL), EPERM, "restore migration",
               "migration");
  expect_error(lbd_trash_remove(e->io, id, true), EPERM, "remove migration",
               "migration");
  size_t removed;
  assert_ok(lbd_trash_purge(e->io, 0, &removed));
  assert_int_equal(removed, 1);
  expect_trash(e, true, "src:migration");
  assert_int_equal(data_objects(e, id), 3);
  /* The internal calls (migration abort / commit) may. */
  assert_ok(image_trash_restore(e->io, id, NULL, true));
  check_image(e, "src", 5);
  assert_ok(image_trash_move(e->io, "src", LBD_TRASH_SOURCE_MIGRATION, 0));
  assert_ok(image_trash_remove(e->io, id, false, true));
  assert_int_equal(data_objects(e, id), 0);
  /* image_trash_add records an entry only. */
  assert_ok(image_trash_add(e->io->pool, "0123456789ab", "x",
                            LBD_TRASH_SOURCE_MIGRATION, 1, 2));
  expect_error(image_trash_add(e->io->pool, "0123456789ab", "x",
                               LBD_TRASH_SOURCE_USER, 1, 2),
               EEXIST, "add twice", NULL);
  struct lbd_trash_info info;
  assert_ok(lbd_trash_get(e->io, "0123456789ab", &info));
  assert_int_equal(info.deletion_time, 1);
  assert_int_equal(info.deferment_end_time, 2);
  assert_int_equal(info.source, LBD_TRASH_SOURCE_MIGRATION);
}

static void test_bad_input(void **state)
{
  struct image_env *e = *state;
  char id[32];
  make_image(e, "keep", 7, id);
  const char *bad_ids[] = {"", "xyz", "0123456789abc", "ABCDEF", "a/b",
                           "12 34"};
  struct lbd_trash_info info;
  for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
    expect_error(lbd_trash_restore(e->io, bad_ids[i], NULL), EINVAL,
                 "restore bad id", NULL);
    expect_error(lbd_trash_remove(e->io, bad_ids[i], true), EINVAL,
                 "remove bad id", NULL);
    expect_error(lbd_trash_get(e->io, bad_ids[i], &info), EINVAL,
                 "get bad id", NULL);
  }
  expect_error(lbd_trash_restore(e->io, "0123456789ab", NULL), ENOENT,
               "restore unknown id", "0123456789ab");
  expect_error(lbd_trash_remove(e->io, "0123456789ab", true), ENOENT,
               "remove unknown id", "0123456789ab");
  const char *bad_names[] = {"", "a/b", "a@b", "nope"};
  for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++)
    expect_error(lbd_trash_move(e->io, bad_names[i], 0), i == 3 ? ENOENT : 0,
                 "move bad name", NULL);
  expect_error(lbd_trash_move(e->io, "keep", UINT64_MAX), EINVAL,
               "move with a huge delay", NULL);
  expect_error(lbd_trash_purge(e->io, -1, NULL), EINVAL, "purge at -1", NULL);
  assert_ok(lbd_trash_move(e->io, "keep", 0));
  expect_error(lbd_trash_restore(e->io, id, "a/b"), EINVAL,
               "restore to a bad name", "a/b");
  expect_error(lbd_trash_restore(e->io, id, ""), EINVAL,
               "restore to an empty name", NULL);
  expect_trash(e, false, "keep:user");
  assert_ok(lbd_trash_restore(e->io, id, NULL));
  check_image(e, "keep", 7);
}

/* ---- crashes between the steps -------------------------------------------- */

static void entry_text(char *buf, size_t size, const char *state,
                       const char *name, int64_t end)
{
  int64_t now = (int64_t)time(NULL);
  snprintf(buf, size, "1 user %s %" PRId64 " %" PRId64 " %s", state, now,
           end ? end : now, name);
}

static void test_crash_move(void **state)
{
  struct image_env *e = *state;
  char id[32], v[512];
  /* After step 1: entry moving, name still in the directory.  Remove and
   * restore refuse or undo; the same move finishes. */
  make_image(e, "m1", 8, id);
  entry_text(v, sizeof v, "moving", "m1", 0);
  set_entry(e, id, v);
  expect_error(lbd_trash_remove(e->io, id, true), EBUSY, "remove while "
               "moving", "lbd trash mv m1");
  assert_int_equal(data_objects(e, id), 3);
  assert_ok(lbd_trash_move(e->io, "m1", 0));
  expect_images(e, "");
  expect_trash(e, false, "m1:user");
  assert_ok(lbd_trash_remove(e->io, id, false));
  assert_int_equal(data_objects(e, id), 0);

  /* After step 1, undone by a restore. */
  make_image(e, "m2", 9, id);
  set_entry(e, id, (entry_text(v, sizeof v, "moving", "m2", 0), v));
  assert_ok(lbd_trash_restore(e->io, id, NULL));
  expect_trash(e, true, "");
  expect_images(e, "m2");
  check_image(e, "m2", 9);

  /* After step 2: entry moving, name gone.  The same move finishes it (by
   * name), and so does any trash call on the id. */
  set_entry(e, id, (entry_text(v, sizeof v, "moving", "m2", 0), v));
  dir_remove(e, "m2", id);
  assert_ok(lbd_trash_move(e->io, "m2", 0));
  expect_trash(e, false, "m2:user");
  assert_ok(lbd_trash_restore(e->io, id, NULL));
  set_entry(e, id, (entry_text(v, sizeof v, "moving", "m2", 0), v));
  dir_remove(e, "m2", id);
  assert_ok(lbd_trash_remove(e->io, id, false));
  assert_int_equal(data_objects(e, id), 0);
  assert_false(header_exists(e, id));
  expect_trash(e, true, "");
}

static void test_crash_restore(void **state)
{
  struct image_env *e = *state;
  char id[32], v[512];
  make_image(e, "r1", 10, id);
  assert_ok(lbd_trash_move(e->io, "r1", 3600));
  /* After step 1: entry restoring, not in the directory yet.  Remove
   * refuses; the same restore (even under another name) finishes. */
  set_entry(e, id, (entry_text(v, sizeof v, "restoring", "r1", 0), v));
  expect_error(lbd_trash_remove(e->io, id, true), EBUSY, "remove while "
               "restoring", "lbd trash restore");
  assert_ok(lbd_trash_restore(e->io, id, "r2"));
  expect_images(e, "r2");
  expect_trash(e, true, "");
  check_image(e, "r2", 10);

  /* After step 2: entry restoring, name back in the directory.  Restore
   * (with or without a name) finishes without adding a second name. */
  assert_ok(lbd_trash_move(e->io, "r2", 0));
  set_entry(e, id, (entry_text(v, sizeof v, "restoring", "r2", 0), v));
  assert_ok(image_dir_add(e->io->pool, "r2", id));
  assert_ok(lbd_trash_restore(e->io, id, "other"));
  expect_images(e, "r2");
  expect_trash(e, true, "");
  /* ... and a listing-then-get settles it as well. */
  assert_ok(lbd_trash_move(e->io, "r2", 0));
  set_entry(e, id, (entry_text(v, sizeof v, "restoring", "r2", 0), v));
  assert_ok(image_dir_add(e->io->pool, "r2", id));
  struct lbd_trash_info info;
  expect_error(lbd_trash_get(e->io, id, &info), ENOENT, "get a finished "
               "restore", NULL);
  expect_images(e, "r2");
  check_image(e, "r2", 10);
}

static void test_crash_remove(void **state)
{
  struct image_env *e = *state;
  char id[32], v[512];
  make_image(e, "d1", 11, id);
  assert_ok(lbd_trash_move(e->io, "d1", 3600));
  /* After step 1 with some data removed: the entry is removing; restore
   * refuses; remove (without --force: it was decided) finishes. */
  entry_text(v, sizeof v, "removing", "d1", (int64_t)time(NULL) + 3600);
  set_entry(e, id, v);
  char oid[64];
  snprintf(oid, sizeof oid, "lbd_data.%s.%016x", id, 0);
  assert_ok(objstore_remove(e->io->pool, oid, NULL));
  assert_int_equal(data_objects(e, id), 2);
  expect_error(lbd_trash_restore(e->io, id, NULL), EBUSY, "restore while "
               "removing", "lbd trash rm");
  expect_error(lbd_trash_move(e->io, "d1", 0), ENOENT, "move of a removing "
               "one", NULL);
  size_t removed;
  assert_ok(lbd_trash_purge(e->io, 0, &removed)); /* not expired: left */
  assert_int_equal(removed, 0);
  assert_ok(lbd_trash_remove(e->io, id, false));
  assert_int_equal(data_objects(e, id), 0);
  assert_false(header_exists(e, id));
  expect_trash(e, true, "");

  /* After step 2: header and data gone, entry left. */
  make_image(e, "d2", 12, id);
  assert_ok(lbd_trash_move(e->io, "d2", 0));
  set_entry(e, id, (entry_text(v, sizeof v, "removing", "d2", 0), v));
  assert_ok(image_remove_objects(e->io->pool, id, 0, NULL, NULL, NULL, 0));
  snprintf(oid, sizeof oid, "lbd_header.%s", id);
  assert_ok(objstore_remove(e->io->pool, oid, NULL));
  assert_ok(lbd_trash_purge(e->io, 0, &removed));
  assert_int_equal(removed, 1);
  expect_trash(e, true, "");
}

static void test_damaged_entry(void **state)
{
  struct image_env *e = *state;
  set_entry(e, "00000000abcd", "garbage");
  struct lbd_trash_info *t;
  size_t n;
  expect_error(lbd_trash_list(e->io, true, &t, &n), EIO, "list damaged",
               "00000000abcd");
  expect_error(lbd_trash_remove(e->io, "00000000abcd", true), EIO,
               "remove damaged", "damaged");
}

/* trash rm leaves no object of the image behind (object map included),
 * and a name with leading spaces survives the trash. */
static void test_rm_leaves_nothing(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options o = {.size = 4 * MiB};
  assert_ok(lbd_create(e->io, "  lead", &o));
  lbd_image_t *img;
  assert_ok(lbd_open(e->io, "  lead", NULL, 0, &img));
  char b[4096] = {1};
  assert_int_equal(lbd_write(img, 0, sizeof b, b), (ssize_t)sizeof b);
  assert_ok(lbd_close(img));
  assert_ok(lbd_trash_move(e->io, "  lead", 0));
  struct lbd_trash_info *t;
  size_t n;
  assert_ok(lbd_trash_list(e->io, true, &t, &n));
  assert_int_equal(n, 1);
  assert_string_equal(t[0].name, "  lead");
  char id[64];
  snprintf(id, sizeof id, "%s", t[0].id);
  lbd_trash_list_free(t, n);
  assert_ok(lbd_trash_restore(e->io, id, NULL));
  assert_ok(lbd_open(e->io, "  lead", NULL, 0, &img));
  assert_ok(lbd_close(img));
  assert_ok(lbd_trash_move(e->io, "  lead", 0));
  assert_ok(lbd_trash_remove(e->io, id, false));
  struct objstore_list_entry *l;
  bool more;
  assert_ok(objstore_list(e->io->pool, 0, NULL, NULL, 0, &l, &n, &more));
  for (size_t i = 0; i < n; i++)
    if (strstr(l[i].name, id))
      fail_msg("object %s of the removed image is left", l[i].name);
  objstore_list_free(l, n);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_move_restore, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rm_leaves_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_remove_and_purge, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_image, setup, teardown),
      cmocka_unit_test_setup_teardown(test_migration_entries, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
      cmocka_unit_test_setup_teardown(test_crash_move, setup, teardown),
      cmocka_unit_test_setup_teardown(test_crash_restore, setup, teardown),
      cmocka_unit_test_setup_teardown(test_crash_remove, setup, teardown),
      cmocka_unit_test_setup_teardown(test_damaged_entry, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
