/* Advisory locks, as rbd's `lock add`, `lock ls` and `lock rm`.  A lock
 * added here stays in the cluster after the command exits (it is kept in
 * the image header, see src/image/advisory_lock.c) until `lock rm`. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* The image spec and then the lock id (and the locker if WANT_LOCKER). */
static int lock_args(struct ctx *c, struct spec *s, const char **id,
                     const char **locker)
{
  int r = spec_image(c, SPEC_SOURCE, false, s);
  if (r < 0)
    return r;
  if (id && !(*id = args_next(c)))
    r = cli_usage(c, "lock id was not specified; see 'lbd help %s'",
                  c->cmd->name);
  else if (id && !**id)
    r = cli_usage(c, "lock id is empty");
  if (r == 0 && locker && !(*locker = args_next(c)))
    r = cli_usage(c, "locker was not specified (e.g. client.1234.1, as "
                  "'lbd lock ls' shows it)");
  else if (r == 0 && locker && !**locker)
    r = cli_usage(c, "locker is empty");
  if (r == 0)
    r = args_done(c);
  if (r < 0)
    spec_free(s);
  return r;
}

int cmd_lock_add(struct ctx *c)
{
  struct spec s;
  const char *id;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  const char *tag = c->val[OPT_SHARED];
  int r = lock_args(c, &s, &id, NULL);
  if (r < 0)
    return r;
  if (tag && !*tag)
    r = cli_usage(c, "--shared needs a tag: lockers that share the lock "
                  "give the same tag");
  if (r == 0 && (r = cli_open(c, &s, true, &io, &img)) == 0) {
    r = tag ? lbd_lock_shared(img, id, tag) : lbd_lock_exclusive(img, id);
    if (r == -EBUSY || r == -EEXIST)
      cli_fail(c, r, "lock is already held by someone else");
    else if (r < 0)
      cli_fail(c, r, "taking lock failed");
    cli_close(c, io, img);
  }
  spec_free(&s);
  return r;
}

static int print_lockers(struct ctx *c, bool exclusive, const char *tag,
                         const struct lbd_locker *l, size_t n)
{
  if (c->json) {
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
      json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "id",
                                           l[i].cookie, "locker", l[i].client,
                                           "address", l[i].address));
    return json_print(c, arr);
  }
  if (n == 0)
    return 0;
  printf("There %s %zu %s lock%s on this image.\n", n == 1 ? "is" : "are", n,
         exclusive ? "exclusive" : "shared", n == 1 ? "" : "s");
  if (!exclusive)
    printf("Lock tag: %s\n", tag);
  static const char *const heads[] = {"Locker", "ID", "Address"};
  static const bool right[] = {false, false, false};
  struct table t;
  table_init(&t, 3, heads, right);
  int r = 0;
  for (size_t i = 0; r == 0 && i < n; i++)
    r = table_row(&t, l[i].client, l[i].cookie, l[i].address);
  if (r == 0)
    table_print(&t, stdout);
  table_free(&t);
  return r < 0 ? cli_syserr(c, r, "listing locks") : 0;
}

int cmd_lock_ls(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  int r = lock_args(c, &s, NULL, NULL);
  if (r < 0)
    return r;
  if ((r = cli_open(c, &s, false, &io, &img)) == 0) {
    bool exclusive;
    char *tag;
    struct lbd_locker *l;
    size_t n;
    if ((r = lbd_list_lockers(img, &exclusive, &tag, &l, &n)) < 0) {
      cli_fail(c, r, NULL);
    } else {
      r = print_lockers(c, exclusive, tag, l, n);
      lbd_lockers_free(tag, l, n);
    }
    cli_close(c, io, img);
  }
  spec_free(&s);
  return r;
}

int cmd_lock_rm(struct ctx *c)
{
  struct spec s;
  const char *id, *locker;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  int r = lock_args(c, &s, &id, &locker);
  if (r < 0)
    return r;
  if ((r = cli_open(c, &s, true, &io, &img)) == 0) {
    if ((r = lbd_break_lock(img, locker, id)) < 0)
      cli_fail(c, r, "releasing lock failed");
    cli_close(c, io, img);
  }
  spec_free(&s);
  return r;
}
