/* Clones of a migrating image follow it: at prepare, every clone of a
 * source snapshot is pointed at the target's snapshot of the same name
 * (which reads the source until execute has copied it), and at abort back.
 * Per clone: the new registry link first, then its header, then the old
 * link, so a crash leaves at most a stale link (listing drops it) and a
 * second run finishes. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "migration/migration_int.h"
#include "util/error.h"

struct relink {
  lbd_cluster_t *cluster;
  lbd_ioctx_t *from_io, *to_io;
  const char *from_id, *to_id;
  uint64_t from_snap, to_snap;
};

static bool names(const struct image_parent *pa, const lbd_ioctx_t *io,
                  const char *id, uint64_t snap)
{
  return pa->pool_id == io->pool_id && strcmp(pa->ns, io->ns) == 0 &&
         strcmp(pa->image_id, id) == 0 && pa->snap_id == snap;
}

static int relink_one(int64_t pool, const char *ns, const char *id, void *arg)
{
  struct relink *rl = arg;
  lbd_ioctx_t *io;
  int r = image_ioctx_by_id(rl->cluster, pool, ns, &io);
  if (r == -ENOENT) { /* its pool is gone: a stale link */
    lbd_error_clear();
    return 0;
  }
  if (r < 0)
    return r;
  struct image_parent to = {.pool_id = rl->to_io->pool_id,
                            .snap_id = rl->to_snap};
  snprintf(to.ns, sizeof to.ns, "%s", rl->to_io->ns);
  snprintf(to.image_id, sizeof to.image_id, "%s", rl->to_id);
  for (int i = 0; r == 0 && i < 100; i++) {
    struct image_header hdr;
    if ((r = image_header_read(io->pool, id, &hdr)) == -ENOENT) {
      lbd_error_clear(); /* a stale link */
      r = 0;
      break;
    }
    if (r < 0)
      break;
    bool done = names(&hdr.parent, rl->to_io, rl->to_id, rl->to_snap);
    if (!done && !names(&hdr.parent, rl->from_io, rl->from_id, rl->from_snap))
      break; /* flattened, or not ours */
    if ((r = image_child_link(rl->to_io, rl->to_id, rl->to_snap, pool, ns, id,
                              true)) < 0)
      break;
    if (!done && (r = image_header_set_parent(io->pool, id, &hdr, &to)) ==
                     -ECANCELED) {
      r = 0;
      continue; /* the header changed: look again */
    }
    break;
  }
  if (r == 0)
    r = image_child_link(rl->from_io, rl->from_id, rl->from_snap, pool, ns,
                         id, false);
  lbd_ioctx_destroy(io);
  return r;
}

int migration_relink_children(lbd_cluster_t *cluster, lbd_ioctx_t *from_io,
                              const char *from_id, lbd_ioctx_t *to_io,
                              const char *to_id)
{
  char from_oid[64], to_oid[64];
  snprintf(from_oid, sizeof from_oid, IMAGE_HEADER_PREFIX "%s", from_id);
  snprintf(to_oid, sizeof to_oid, IMAGE_HEADER_PREFIX "%s", to_id);
  struct lbd_snap_info *from = NULL, *to = NULL;
  size_t nfrom = 0, nto = 0;
  int r = image_snaps_read(from_io->pool, from_oid, &from, &nfrom);
  if (r == -ENOENT) { /* gone already: nothing links to it */
    lbd_error_clear();
    return 0;
  }
  if (r == 0)
    r = image_snaps_read(to_io->pool, to_oid, &to, &nto);
  struct relink rl = {cluster, from_io, to_io, from_id, to_id, 0, 0};
  for (size_t i = 0; r == 0 && i < nfrom; i++) {
    rl.from_snap = from[i].id;
    rl.to_snap = OBJSTORE_SNAP_HEAD;
    for (size_t j = 0; j < nto; j++)
      if (strcmp(to[j].name, from[i].name) == 0)
        rl.to_snap = to[j].id;
    if (rl.to_snap != OBJSTORE_SNAP_HEAD)
      r = image_children_each(from_io, from_id, from[i].id, relink_one, &rl);
  }
  free(from);
  free(to);
  return r < 0 ? lbd_error_prefix(r, "moving the clones of image %s",
                                  from_id)
               : 0;
}

int migration_descendants(struct pair *p, char ***specs, size_t *count)
{
  lbd_image_t *img = NULL;
  *specs = NULL;
  *count = 0;
  int r = image_open(p->dst_io, NULL, p->dst_id, NULL, OBJSTORE_SNAP_HEAD,
                     LBD_OPEN_READ_ONLY | IMAGE_OPEN_NO_BACKING, 0, &img);
  struct lbd_snap_info *snaps = NULL;
  size_t n = 0;
  if (r == 0)
    r = lbd_snap_list(img, &snaps, &n);
  for (size_t i = 0; r == 0 && i < n; i++) {
    char **kids;
    size_t nk;
    if ((r = image_children_list(img, snaps[i].id, &kids, &nk)) < 0)
      break;
    char **all = realloc(*specs, (*count + nk + 1) * sizeof *all);
    if (!all) {
      lbd_names_free(kids, nk);
      r = lbd_error(ENOMEM, "out of memory");
      break;
    }
    *specs = all;
    for (size_t k = 0; k < nk; k++)
      all[(*count)++] = kids[k];
    free(kids);
  }
  free(snaps);
  if (r < 0) {
    lbd_names_free(*specs, *count);
    *specs = NULL;
    *count = 0;
  }
  char msg[LBD_ERROR_MAX];
  snprintf(msg, sizeof msg, "%s", r < 0 ? lbd_last_error() : "");
  lbd_close(img);
  return r < 0 ? lbd_error(r, "%s", msg) : 0;
}
