/* Live migration (DESIGN.md, "Migration"; the behaviour of rbd migration).
 *
 * The target's header names the source as its backing (parent_* keys with
 * the source's id, migration_* keys with role "target"), so every read of
 * data the target lacks goes to the source and every first write copies up
 * (image/copyup.c).  The source's header names the target (role "source"),
 * and the source sits in the trash, read-only.  Execute is flatten's loop:
 * copy up, with history, every object the target lacks; of a clone that
 * keeps its parent, only those the source has of its own.
 *
 * Every step records its intent before acting (migration_state) and is
 * idempotent, so each command can be run again after a crash and ends in
 * the same place:
 *   prepare: source intent -> target header, snapshots, metadata -> source
 *            to the trash -> target name -> both "prepared"
 *   execute: "executing" -> copy-ups -> "executed"
 *   commit:  "committing" (a clone not flattened: in the same step, the
 *            target linked to the source's parent) -> the parent's child
 *            link -> source removed -> target links dropped
 *   abort:   "aborting" -> target writes copied back into the source ->
 *            target removed -> source restored -> source links dropped */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/backing.h"
#include "image/image.h"
#include "image/trash.h"
#include "migration/migration_int.h"
#include "source/spec.h"
#include "util/error.h"
#include "util/random.h"

#define DEFAULT_THREADS 8
#define BLOCK 4096

void pair_free(struct pair *p)
{
  lbd_ioctx_destroy(p->src_io);
  lbd_ioctx_destroy(p->dst_io);
  memset(p, 0, sizeof *p);
}

static void header_oid(const char *id, char *buf, size_t size)
{
  snprintf(buf, size, IMAGE_HEADER_PREFIX "%s", id);
}

/* The id of the image the trash of IO holds as NAME for a migration. */
static int trash_find(lbd_ioctx_t *io, const char *name,
                      char id[IMAGE_ID_LEN + 1])
{
  struct lbd_trash_info *t;
  size_t n;
  int r = lbd_trash_list(io, true, &t, &n);
  if (r < 0)
    return r;
  r = -ENOENT;
  for (size_t i = 0; i < n && r == -ENOENT; i++) {
    struct image_header hdr; /* the one that is a migration's source */
    if (t[i].source == LBD_TRASH_SOURCE_MIGRATION &&
        strcmp(t[i].name, name) == 0 &&
        image_header_read(io->pool, t[i].id, &hdr) == 0 &&
        hdr.migration.role == IMAGE_MIGRATION_SOURCE) {
      snprintf(id, IMAGE_ID_LEN + 1, "%s", t[i].id);
      r = 0;
    }
  }
  lbd_error_clear();
  lbd_trash_list_free(t, n);
  return r;
}

/* Read the header of the peer that M names into *HDR (ENOENT quietly if it
 * is gone); *IO is an ioctx for the peer's namespace. */
static int peer_read(lbd_cluster_t *cluster, const struct image_migration *m,
                     lbd_ioctx_t **io, struct image_header *hdr, bool *have)
{
  int r = image_ioctx_by_id(cluster, m->peer_pool, m->peer_ns, io);
  if (r < 0)
    return r;
  r = image_header_read((*io)->pool, m->peer_id, hdr);
  *have = r == 0;
  if (r == -ENOENT) {
    lbd_error_clear();
    r = 0;
  }
  return r;
}

/* A target whose commit let go of it while it still names its source
 * (HDR): that commit, found by the marker under the source's name, or
 * (the marker gone: only those keys are left to drop) made up here. */
static int committed_target(lbd_ioctx_t *io, const struct image_header *hdr,
                            const char *id, struct pair *p)
{
  const struct image_migration *m = &hdr->migration;
  lbd_ioctx_t *sio = NULL;
  int r = image_ioctx_by_id(io->cluster, m->peer_pool, m->peer_ns, &sio);
  if (r == 0 && (r = pair_find_committing(sio, m->peer_name, p)) == 0 &&
      strcmp(p->dst_id, id) != 0) {
    pair_free(p);
    r = -ENOENT; /* the name's marker is another commit's */
  } else if (r == -ENOENT && sio) {
    memset(p, 0, sizeof *p);
    p->src_io = sio;
    sio = NULL;
    snprintf(p->src_name, sizeof p->src_name, "%s", m->peer_name);
    snprintf(p->dst_id, sizeof p->dst_id, "%s", id);
    p->dst = *hdr;
    p->have_dst = true;
    if ((r = image_ioctx_by_id(io->cluster, io->pool_id, io->ns,
                               &p->dst_io)) < 0)
      pair_free(p);
  }
  lbd_ioctx_destroy(sio);
  lbd_error_clear();
  return r;
}

/* Find the migration that NAME (target, or source in or out of the trash)
 * of IO takes part in. */
int pair_find(lbd_ioctx_t *io, const char *name, struct pair *p)
{
  memset(p, 0, sizeof *p);
  char id[IMAGE_ID_LEN + 1];
  struct image_header hdr;
  int r = image_check_name("image name", name);
  if (r == 0 && (r = image_dir_lookup(io->pool, name, id)) == -ENOENT &&
      (r = trash_find(io, name, id)) == -ENOENT) {
    if (pair_find_committing(io, name, p) == 0) /* a source committed */
      return 0;
    return lbd_error(ENOENT, "image %s does not exist", name);
  }
  if (r == 0 && (r = image_header_read(io->pool, id, &hdr)) == -ENOENT &&
      trash_find(io, name, id) == 0) /* a target's name left by an abort */
    r = image_header_read(io->pool, id, &hdr);
  if (r < 0)
    return r;
  /* An in-place target that a cut commit let go of: its source, still in
   * the trash under the same name, has the rest of the commit. */
  if (hdr.migration.role == IMAGE_MIGRATION_NONE &&
      trash_find(io, name, id) == 0 &&
      (r = image_header_read(io->pool, id, &hdr)) < 0)
    return r;
  const struct image_migration *m = &hdr.migration;
  if (m->role == IMAGE_MIGRATION_NONE && pair_find_committing(io, name, p) == 0)
    return 0; /* an in-place commit cut before its very last step */
  if (m->role == IMAGE_MIGRATION_NONE && m->peer_name[0] &&
      committed_target(io, &hdr, id, p) == 0)
    return 0; /* a commit cut before its marker went */
  if (m->role == IMAGE_MIGRATION_NONE)
    return lbd_error(EINVAL, "image %s is not being migrated", name);
  lbd_ioctx_t *self;
  if ((r = image_ioctx_by_id(io->cluster, io->pool_id, io->ns, &self)) < 0)
    return r;
  if (m->role == IMAGE_MIGRATION_TARGET) {
    p->dst_io = self;
    p->dst = hdr;
    p->have_dst = true;
    snprintf(p->dst_id, sizeof p->dst_id, "%s", id);
    snprintf(p->dst_name, sizeof p->dst_name, "%s", name);
    snprintf(p->src_id, sizeof p->src_id, "%s", m->peer_id);
    snprintf(p->src_name, sizeof p->src_name, "%s", m->peer_name);
    if (!m->import_only) /* an import's source is a source-spec */
      r = peer_read(io->cluster, m, &p->src_io, &p->src, &p->have_src);
  } else {
    p->src_io = self;
    p->src = hdr;
    p->have_src = true;
    snprintf(p->src_id, sizeof p->src_id, "%s", id);
    snprintf(p->src_name, sizeof p->src_name, "%s", name);
    snprintf(p->dst_id, sizeof p->dst_id, "%s", m->peer_id);
    snprintf(p->dst_name, sizeof p->dst_name, "%s", m->peer_name);
    r = peer_read(io->cluster, m, &p->dst_io, &p->dst, &p->have_dst);
  }
  if (r < 0)
    pair_free(p);
  return r;
}

/* Set the state (and its description) in the header of image ID. */
static int set_state(lbd_ioctx_t *io, const char *id, const char *state,
                     const char *desc)
{
  for (int i = 0; i < 100; i++) {
    struct image_header hdr;
    int r = image_header_read(io->pool, id, &hdr);
    if (r < 0)
      return r;
    if (hdr.migration.role == IMAGE_MIGRATION_NONE)
      return 0;
    snprintf(hdr.migration.state, sizeof hdr.migration.state, "%s", state);
    snprintf(hdr.migration.state_desc, sizeof hdr.migration.state_desc, "%s",
             desc ? desc : "");
    if ((r = image_header_set_migration(io->pool, id, &hdr)) != -ECANCELED)
      return r;
  }
  return lbd_error(EAGAIN, "the header of image %s keeps changing", id);
}

/* What clear_links drops. */
#define CLEAR_PARENT 1u    /* first, the target's link to its source */
#define CLEAR_KEEP_PEER 2u /* not the keys naming the source (pair_find
                            * follows them to the commit's marker) */
#define CLEAR_PEER_ONLY 4u /* only those keys, of an image with no role (one
                            * made a source of another migration since keeps
                            * its new keys) */

/* Drop the migration keys of image ID (WHAT: CLEAR_*); a parent the target
 * keeps stays. */
static int clear_links(lbd_ioctx_t *io, const char *id, unsigned what)
{
  bool keep_peer = what & CLEAR_KEEP_PEER;
  for (int i = 0; i < 100; i++) {
    struct image_header hdr;
    int r = image_header_read(io->pool, id, &hdr);
    if (r == -ENOENT) {
      lbd_error_clear();
      return 0;
    }
    if (r < 0)
      return r;
    const struct image_migration *m = &hdr.migration;
    bool import = m->import_only &&
                  (hdr.parent.pool_id >= 0 || hdr.parent.overlap);
    if ((what & CLEAR_PARENT) && (image_parent_is_source(&hdr) || import))
      r = image_header_drop_parent(io->pool, id, &hdr);
    else if ((m->role != IMAGE_MIGRATION_NONE && !(what & CLEAR_PEER_ONLY)) ||
             (m->role == IMAGE_MIGRATION_NONE && !keep_peer &&
              m->peer_name[0])) {
      hdr.migration.role = IMAGE_MIGRATION_NONE;
      hdr.migration.keep_peer = keep_peer;
      r = image_header_set_migration(io->pool, id, &hdr);
    } else
      return 0;
    if (r < 0 && r != -ECANCELED)
      return r;
  }
  return lbd_error(EAGAIN, "the header of image %s keeps changing", id);
}

/* ---- prepare ----------------------------------------------------------- */

/* Refuse a source that someone uses: watchers, advisory locks, clones. */
static int source_free(lbd_image_t *src)
{
  struct objstore_holder *h;
  size_t n;
  char mine[24];
  snprintf(mine, sizeof mine, "%" PRIu64, src->watch);
  int r = objstore_list_watchers(src->io->pool, src->header_oid, &h, &n);
  if (r < 0)
    return r;
  for (size_t i = 0; i < n && r == 0; i++) /* all but our own watch */
    if (strcmp(h[i].cookie, mine) != 0 ||
        strcmp(h[i].client, objstore_cluster_client(src->io->cluster->os)))
      r = lbd_error(EBUSY, "image has watchers - not migrating (%s, pid %d): "
                    "close it there first", h[i].client, (int)h[i].pid);
  objstore_holders_free(h, n);
  struct lbd_locker *lk;
  size_t nl;
  char *tag;
  bool exclusive;
  if (r == 0 && (r = lbd_list_lockers(src, &exclusive, &tag, &lk, &nl)) == 0) {
    if (nl)
      r = lbd_error(EBUSY, "image is locked by %s (cookie %s, 'lbd lock ls'): "
                    "remove the lock ('lbd lock rm') first", lk[0].client,
                    lk[0].cookie);
    lbd_lockers_free(tag, lk, nl);
  }
  return r;
}

/* The target's layout: OPTS where given, else the source's; a new object
 * size alone carries the source's default striping (unit = object) along. */
static int target_header(lbd_ioctx_t *dst_io, lbd_image_t *src,
                         const struct lbd_image_options *opts,
                         struct image_header *hdr)
{
  const struct image_header *s = &src->hdr;
  struct lbd_image_options o = *opts;
  char data_pool[OBJSTORE_MAX_POOL_NAME + 1] = "";
  o.size = s->size;
  if (!o.object_size)
    o.object_size = s->layout.object_size;
  /* Unless the options say otherwise, the source's striping; a stripe
   * unit of a whole object follows a new object size. */
  if (!o.stripe_unit && !o.stripe_count) {
    o.stripe_count = s->layout.stripe_count;
    o.stripe_unit = s->layout.stripe_unit == s->layout.object_size
                        ? o.object_size
                        : s->layout.stripe_unit;
  }
  if (!o.features)
    o.features = s->features & ~LBD_FEATURE_DATA_POOL &
                 ~LBD_FEATURE_STRIPINGV2;
  if (!o.data_pool && s->data_pool_id >= 0) {
    struct objstore_pool_info info;
    int r = objstore_pool_get_info(src->io->cluster->os, s->data_pool_id,
                                   &info);
    if (r < 0)
      return lbd_error_prefix(r, "the data pool of %s", src->name);
    snprintf(data_pool, sizeof data_pool, "%s", info.name);
    free(info.path);
    o.data_pool = data_pool;
  }
  return image_header_from_options(dst_io, &o, hdr);
}

static int copy_metadata(lbd_image_t *src, lbd_ioctx_t *dst_io,
                         const char *dst_id)
{
  struct lbd_metadata *md;
  size_t n;
  char oid[64];
  header_oid(dst_id, oid, sizeof oid);
  int r = lbd_metadata_list(src, &md, &n);
  if (r < 0)
    return r;
  for (size_t i = 0; r == 0 && i < n; i++) {
    char key[OBJSTORE_MAX_OMAP_KEY + 1];
    snprintf(key, sizeof key, "metadata_%s", md[i].key);
    r = objstore_omap_set(dst_io->pool, oid, key, md[i].value,
                          strlen(md[i].value));
  }
  lbd_metadata_list_free(md, n);
  return r;
}

/* The steps after the source's intent; each one can be run again. */
static int prepare_steps(struct pair *p, lbd_image_t *src,
                         const struct image_header *want)
{
  int r = 0;
  if (!p->have_dst) {
    struct image_header h = *want;
    h.parent = (struct image_parent){.pool_id = p->src_io->pool_id,
                                     .snap_id = OBJSTORE_SNAP_HEAD,
                                     .overlap = src->hdr.size};
    snprintf(h.parent.ns, sizeof h.parent.ns, "%s", p->src_io->ns);
    snprintf(h.parent.image_id, sizeof h.parent.image_id, "%s", p->src_id);
    h.migration.role = IMAGE_MIGRATION_TARGET;
    h.migration.peer_pool = p->src_io->pool_id;
    snprintf(h.migration.peer_ns, sizeof h.migration.peer_ns, "%s",
             p->src_io->ns);
    snprintf(h.migration.peer_id, sizeof h.migration.peer_id, "%s", p->src_id);
    snprintf(h.migration.peer_name, sizeof h.migration.peer_name, "%s",
             p->src_name);
    snprintf(h.migration.state, sizeof h.migration.state, "preparing");
    h.migration.flatten = src->hdr.migration.flatten;
    if ((h.features & LBD_FEATURE_OBJECT_MAP) &&
        (r = image_object_map_create(p->dst_io->pool, p->dst_id,
                                     striping_object_count(&h.layout,
                                                           h.size))) < 0)
      return r;
    if ((r = image_header_create(p->dst_io->pool, p->dst_id, &h)) < 0 &&
        r != -EEXIST)
      return r;
    lbd_error_clear();
    if ((r = image_header_read(p->dst_io->pool, p->dst_id, &p->dst)) < 0)
      return r;
    p->have_dst = true;
  }
  struct objstore_pool *data;
  struct lbd_snap_info *snaps = NULL;
  size_t n = 0;
  if ((r = image_open_data_pool(p->dst_io, &p->dst, &data)) < 0)
    return r;
  r = lbd_snap_list(src, &snaps, &n);
  for (size_t i = 0; r == 0 && i < n; i++)
    r = image_snap_import(p->dst_io->pool, p->dst_id, data, &snaps[i]);
  free(snaps);
  objstore_pool_close(data);
  if (r == 0)
    r = copy_metadata(src, p->dst_io, p->dst_id);
  return r;
}

/* Source to the trash, target named, both prepared. */
static int prepare_finish(struct pair *p)
{
  char id[IMAGE_ID_LEN + 1];
  /* The source's clones read the target's snapshots from now on. */
  int r = migration_relink_children(p->src_io->cluster, p->src_io, p->src_id,
                                    p->dst_io, p->dst_id);
  if (r == 0)
    r = image_dir_lookup(p->src_io->pool, p->src_name, id);
  if (r == 0 && strcmp(id, p->src_id) == 0)
    r = image_trash_move(p->src_io, p->src_name, LBD_TRASH_SOURCE_MIGRATION,
                         0);
  else if (r == 0 || r == -ENOENT)
    r = 0; /* in the trash already */
  if (r == 0 && (r = image_dir_lookup(p->dst_io->pool, p->dst_name, id)) ==
                    -ENOENT)
    r = image_dir_add(p->dst_io->pool, p->dst_name, p->dst_id);
  else if (r == 0 && strcmp(id, p->dst_id) != 0)
    r = lbd_error(EEXIST, "image %s exists", p->dst_name);
  if (r == 0)
    r = set_state(p->dst_io, p->dst_id, "prepared", NULL);
  if (r == 0)
    r = set_state(p->src_io, p->src_id, "prepared", NULL);
  return r;
}

static int migration_undo(struct pair *p);

/* Record the intent in the source's header; then the steps. */
static int prepare_new(lbd_ioctx_t *src_io, const char *src_name,
                       lbd_ioctx_t *dst_io, const char *dst_name,
                       const struct lbd_image_options *opts, bool flatten)
{
  lbd_image_t *src;
  char id[IMAGE_ID_LEN + 1];
  int r = image_dir_lookup(dst_io->pool, dst_name, id);
  bool same = src_io->pool_id == dst_io->pool_id &&
              strcmp(src_io->ns, dst_io->ns) == 0 &&
              strcmp(src_name, dst_name) == 0;
  if (r == 0 && !same)
    return lbd_error(EEXIST, "image %s exists already", dst_name);
  if (r < 0 && r != -ENOENT)
    return r;
  lbd_error_clear();
  if ((r = lbd_open(src_io, src_name, NULL, LBD_OPEN_READ_ONLY, &src)) < 0)
    return r;
  struct image_header want;
  struct pair p = {0};
  if ((r = source_free(src)) == 0 &&
      src->hdr.migration.role != IMAGE_MIGRATION_NONE)
    r = lbd_error(EBUSY, "image %s is being migrated already", src_name);
  if (r == 0)
    r = target_header(dst_io, src, opts, &want);
  if (r == 0 && (r = image_ioctx_by_id(src_io->cluster, src_io->pool_id,
                                       src_io->ns, &p.src_io)) == 0)
    r = image_ioctx_by_id(dst_io->cluster, dst_io->pool_id, dst_io->ns,
                          &p.dst_io);
  if (r < 0) {
    char msg[LBD_ERROR_MAX];
    snprintf(msg, sizeof msg, "%s", lbd_last_error());
    lbd_close(src); /* clears the message */
    pair_free(&p);
    return lbd_error(r, "%s", msg);
  }
  snprintf(p.src_id, sizeof p.src_id, "%s", src->id);
  snprintf(p.src_name, sizeof p.src_name, "%s", src_name);
  snprintf(p.dst_id, sizeof p.dst_id, "%012" PRIx64,
           lbd_random_u64() & (uint64_t)0xffffffffffff);
  snprintf(p.dst_name, sizeof p.dst_name, "%s", dst_name);
  struct image_header sh = src->hdr;
  sh.migration = (struct image_migration){.role = IMAGE_MIGRATION_SOURCE,
                                          .peer_pool = dst_io->pool_id,
                                          .flatten = flatten};
  snprintf(sh.migration.peer_ns, sizeof sh.migration.peer_ns, "%s",
           dst_io->ns);
  snprintf(sh.migration.peer_id, sizeof sh.migration.peer_id, "%s", p.dst_id);
  snprintf(sh.migration.peer_name, sizeof sh.migration.peer_name, "%s",
           dst_name);
  snprintf(sh.migration.state, sizeof sh.migration.state, "preparing");
  if ((r = image_header_set_migration(src_io->pool, src->id, &sh)) ==
      -ECANCELED)
    r = lbd_error(EAGAIN, "image %s changed meanwhile: try again", src_name);
  if (r == 0) {
    src->hdr.migration = sh.migration;
    p.src = sh;
    p.have_src = true;
    r = prepare_steps(&p, src, &want);
  }
  char msg[LBD_ERROR_MAX];
  snprintf(msg, sizeof msg, "%s", r < 0 ? lbd_last_error() : "");
  lbd_close(src); /* before the trash move, which refuses watchers */
  if (r < 0)
    lbd_error(r, "%s", msg);
  if (r == 0)
    r = prepare_finish(&p);
  if (r < 0 && p.have_src) { /* undo what was done, keep the message */
    snprintf(msg, sizeof msg, "%s", lbd_last_error());
    migration_undo(&p);
    lbd_error(r, "%s", msg);
  }
  pair_free(&p);
  return r;
}

/* A prepare that a crash interrupted: the same steps again. */
static int prepare_resume(struct pair *p, const char *dst_name)
{
  if (strcmp(p->src.migration.state, "preparing") != 0 ||
      strcmp(p->dst_name, dst_name) != 0)
    return lbd_error(EBUSY, "image %s is being migrated already (to %s)",
                     p->src_name, p->dst_name);
  lbd_image_t *src;
  int r = image_open(p->src_io, NULL, p->src_id, NULL, OBJSTORE_SNAP_HEAD,
                     LBD_OPEN_READ_ONLY, 0, &src);
  if (r < 0)
    return r;
  struct image_header want = p->dst;
  r = prepare_steps(p, src, &want);
  char msg[LBD_ERROR_MAX];
  snprintf(msg, sizeof msg, "%s", r < 0 ? lbd_last_error() : "");
  lbd_close(src);
  if (r < 0)
    return lbd_error(r, "%s", msg);
  return prepare_finish(p);
}

int lbd_migration_prepare(lbd_ioctx_t *src_io, const char *src,
                          lbd_ioctx_t *dst_io, const char *dst,
                          const struct lbd_image_options *opts, bool flatten)
{
  lbd_error_clear();
  struct pair p;
  int r = image_check_name("image name", src);
  if (r == 0)
    r = image_check_name("target image name", dst);
  if (r < 0)
    return lbd_error_prefix(r, "preparing the migration of %s", src);
  char id[IMAGE_ID_LEN + 1];
  struct image_header hdr;
  /* A source with intent recorded: resume (or refuse a second one). */
  if (((r = image_dir_lookup(src_io->pool, src, id)) == 0 ||
       (r = trash_find(src_io, src, id)) == 0) &&
      image_header_read(src_io->pool, id, &hdr) == 0 &&
      hdr.migration.role == IMAGE_MIGRATION_SOURCE &&
      (r = pair_find(src_io, src, &p)) == 0) {
    if (p.have_dst) {
      r = prepare_resume(&p, dst);
    } else if (strcmp(p.src.migration.state, "preparing") == 0 &&
               (r = migration_undo(&p)) == 0) {
      /* cut before its target existed: start again */
      r = prepare_new(src_io, src, dst_io, dst, opts, flatten);
    }
    pair_free(&p);
  } else if (r == 0 && hdr.migration.role == IMAGE_MIGRATION_TARGET) {
    /* In place (same name): a prepare cut after the target took the
     * name is resumed by its source's name, now the target's. */
    if (strcmp(hdr.migration.state, "preparing") == 0 &&
        hdr.migration.peer_pool == src_io->pool_id &&
        strcmp(hdr.migration.peer_ns, src_io->ns) == 0 &&
        strcmp(hdr.migration.peer_name, src) == 0 &&
        dst_io->pool_id == src_io->pool_id &&
        strcmp(dst_io->ns, src_io->ns) == 0 &&
        (r = pair_find(src_io, src, &p)) == 0) {
      r = p.have_src ? prepare_resume(&p, dst)
                     : lbd_error(ENOENT, "the source of migration target %s "
                                 "is gone", src);
      pair_free(&p);
    } else if (r == 0) {
      r = lbd_error(EBUSY, "image %s is the target of a migration already",
                    src);
    }
  } else if (r == 0 && hdr.migration.role == IMAGE_MIGRATION_NONE &&
             hdr.migration.peer_name[0]) {
    r = lbd_error(EBUSY, "the commit of the migration that made image %s is "
                  "not finished: run 'lbd migration commit %s' first", src,
                  src);
  } else {
    lbd_error_clear();
    r = prepare_new(src_io, src, dst_io, dst, opts, flatten);
  }
  return r < 0 ? lbd_error_prefix(r, "preparing the migration of %s", src)
               : 0;
}

/* ---- execute ----------------------------------------------------------- */

/* Mark the object map of the target (header OID) dirty: execute copies
 * objects in without the exclusive lock, so the first writer after the
 * commit must rebuild the map (the header was made with a clean one). */
static int map_dirty(lbd_ioctx_t *io, const char *oid)
{
  struct objstore_write_op *op = objstore_write_op_new();
  if (!op)
    return lbd_error(ENOMEM, "out of memory");
  objstore_write_op_assert_exists(op);
  objstore_write_op_omap_set(op, "object_map_state", "dirty", 5);
  int r = objstore_write_op_operate(io->pool, oid, op, NULL, OBJSTORE_OP_FUA);
  objstore_write_op_free(op);
  return r;
}

/* Progress of execute: the caller's, and "executing (N% complete)" in the
 * target's header every 5% for `lbd status` elsewhere. */
struct execute_progress {
  lbd_ioctx_t *io;
  const char *id;
  lbd_progress_fn_t user;
  void *arg;
  int shown;
};

static int execute_progress(uint64_t done, uint64_t total, void *arg)
{
  struct execute_progress *ep = arg;
  int pct = total ? (int)(done * 100 / total) : 100;
  if (pct / 5 != ep->shown / 5 && pct < 100) {
    char desc[32];
    snprintf(desc, sizeof desc, "(%d%% complete)", pct);
    ep->shown = pct;
    set_state(ep->io, ep->id, "executing", desc); /* best effort */
    lbd_error_clear();
  }
  return ep->user ? ep->user(done, total, ep->arg) : 0;
}

int lbd_migration_execute(lbd_ioctx_t *io, const char *image, unsigned threads,
                          lbd_progress_fn_t progress, void *arg)
{
  lbd_error_clear();
  struct pair p;
  int r = pair_find(io, image, &p);
  if (r < 0)
    return lbd_error_prefix(r, "executing the migration of %s", image);
  const char *state = p.have_dst ? p.dst.migration.state : "";
  if (!p.have_dst || (!p.have_src && !p.dst.migration.import_only) ||
      (strcmp(state, "prepared") && strcmp(state, "executing") &&
       strcmp(state, "executed") && strcmp(state, "error")))
    r = lbd_error(EINVAL, "the migration of %s is %s: execute needs it "
                  "prepared", image, p.have_dst ? state : "missing its target");
  char oid[64], cookie[32];
  header_oid(p.dst_id, oid, sizeof oid);
  if (r == 0)
    r = image_step_lock(p.dst_io->pool, oid, "lbd migration execute",
                        cookie);
  bool locked = r == 0;
  if (r == 0 && strcmp(state, "executed") != 0) {
    lbd_image_t *dst;
    r = set_state(p.dst_io, p.dst_id, "executing", NULL);
    if (r == 0 && (p.dst.features & LBD_FEATURE_OBJECT_MAP))
      r = map_dirty(p.dst_io, oid);
    if (r == 0 && (r = image_open(p.dst_io, NULL, p.dst_id, NULL,
                                  OBJSTORE_SNAP_HEAD, 0, 0, &dst)) == 0) {
      /* Without the exclusive lock, so that clients keep writing: a
       * copy-up needs none (create-exclusive), and a target's object map
       * stays dirty until the first writer after the commit rebuilds it. */
      uint64_t overlap = dst->hdr.parent.overlap;
      if (image_snap_overlap_max(dst) > overlap)
        overlap = image_snap_overlap_max(dst);
      struct execute_progress ep = {p.dst_io, p.dst_id, progress, arg, -1};
      /* Fresh from prepare, the target has few objects: copy-ups need
       * not ask first. */
      unsigned flags = IMAGE_COPYUP_OWN |
                       (strcmp(state, "prepared") ? 0 : IMAGE_COPYUP_FRESH);
      r = image_copyup_all(dst, overlap, threads ? threads : DEFAULT_THREADS,
                           flags, execute_progress, &ep);
      char msg[LBD_ERROR_MAX];
      snprintf(msg, sizeof msg, "%s", r < 0 ? lbd_last_error() : "");
      int e = lbd_close(dst);
      if (r == 0)
        r = e;
      else
        lbd_error(r, "%s", msg);
    }
    if (r == 0)
      r = set_state(p.dst_io, p.dst_id, "executed", NULL);
  }
  if (locked)
    image_step_unlock(p.dst_io->pool, oid, cookie);
  pair_free(&p);
  return r < 0 ? lbd_error_prefix(r, "executing the migration of %s", image)
               : 0;
}

/* ---- commit ------------------------------------------------------------ */

int lbd_migration_commit(lbd_ioctx_t *io, const char *image,
                         lbd_progress_fn_t progress, void *arg)
{
  return lbd_migration_commit_flags(io, image, 0, progress, arg);
}

/* Clones of the target's snapshots: refused without FORCE (one of them
 * open elsewhere still reads the source through its old parent handle). */
static int check_descendants(struct pair *p, unsigned flags)
{
  char **kids;
  size_t n;
  int r = migration_descendants(p, &kids, &n);
  if (r == 0 && n && !(flags & LBD_MIGRATION_FORCE))
    r = lbd_error(EBUSY, "the image has %zu clone(s) (%s%s): make sure none "
                  "is open anywhere, then commit with --force", n, kids[0],
                  n > 1 ? ", ..." : "");
  lbd_names_free(kids, n);
  return r;
}

/* While a commit runs, the source's namespace keeps a marker naming the
 * target under the source's name (the source itself goes first), so that
 * the commit can be finished by either name after a crash. */
#define COMMITS_OID "lbd_migration_commits"

static int commit_marker(struct pair *p, bool add)
{
  if (!add) {
    int r = objstore_omap_rm(p->src_io->pool, COMMITS_OID, p->src_name);
    if (r == -ENOENT)
      lbd_error_clear();
    return r == -ENOENT ? 0 : r;
  }
  char v[OBJSTORE_MAX_NS + 64];
  int n = snprintf(v, sizeof v, "%" PRId64 " %s %s", p->dst_io->pool_id,
                   p->dst_id, p->dst_io->ns);
  return objstore_omap_set(p->src_io->pool, COMMITS_OID, p->src_name, v,
                           (size_t)n);
}

int pair_find_committing(lbd_ioctx_t *io, const char *name, struct pair *p)
{
  const char *keys[] = {name};
  struct objstore_kv *kvs;
  size_t n;
  memset(p, 0, sizeof *p);
  int r = objstore_omap_get_keys(io->pool, COMMITS_OID, keys, 1, &kvs, &n);
  if (r < 0 || n == 0) {
    if (r == 0)
      objstore_kv_free(kvs, n);
    return -ENOENT;
  }
  int64_t pool;
  char ns[OBJSTORE_MAX_NS + 1] = "";
  int pos = 0;
  if (sscanf(kvs[0].value, "%" SCNd64 " %12s %n", &pool, p->dst_id, &pos) < 2)
    r = lbd_error(EIO, "the commit marker of %s is damaged", name);
  else
    snprintf(ns, sizeof ns, "%s", (char *)kvs[0].value + pos);
  objstore_kv_free(kvs, n);
  if (r == 0)
    r = image_ioctx_by_id(io->cluster, io->pool_id, io->ns, &p->src_io);
  if (r == 0)
    r = image_ioctx_by_id(io->cluster, pool, ns, &p->dst_io);
  if (r == 0) {
    snprintf(p->src_name, sizeof p->src_name, "%s", name);
    if (image_header_read(p->dst_io->pool, p->dst_id, &p->dst) == 0)
      p->have_dst = true;
    lbd_error_clear();
  }
  if (r < 0)
    pair_free(p);
  return r;
}

/* The overlap of SRC's parent at source snapshot SNAP_ID (its head's if
 * it is none of SRC's snapshots). */
static uint64_t source_snap_overlap(const lbd_image_t *src, uint64_t snap_id)
{
  for (size_t i = 0; i < src->snapc.nsnaps; i++)
    if (src->snap_ids[i] == snap_id)
      return src->snap_overlaps[i];
  return src->hdr.parent.overlap;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
  return a < b ? a : b;
}

/* Link target DST to the parent of source SRC, each overlap no larger than
 * what the source read of the parent there; with the state "committing"
 * in the same step.  ECANCELED if DST's header changed meanwhile. */
static int relink_once(struct pair *p, lbd_image_t *src, lbd_image_t *dst)
{
  struct image_snap_link *links;
  size_t nlinks, n = dst->snapc.nsnaps;
  int r = image_migration_snaps(dst, &links, &nlinks);
  if (r < 0)
    return r;
  uint64_t *ov = malloc((n ? n : 1) * sizeof *ov);
  if (!ov) {
    free(links);
    return lbd_error(ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n; i++) {
    uint64_t from = OBJSTORE_SNAP_HEAD; /* taken after prepare: the head */
    for (size_t j = 0; j < nlinks; j++)
      if (links[j].dst == dst->snap_ids[i])
        from = links[j].src;
    ov[i] = min_u64(dst->snap_overlaps[i], source_snap_overlap(src, from));
  }
  struct image_parent parent = src->hdr.parent;
  parent.overlap = min_u64(dst->hdr.parent.overlap, src->hdr.parent.overlap);
  r = image_header_commit_parent(p->dst_io->pool, p->dst_id, &dst->hdr,
                                 &parent, dst->snap_ids, ov, n);
  free(ov);
  free(links);
  return r;
}

static int relink_to_parent(struct pair *p)
{
  const unsigned flags = LBD_OPEN_READ_ONLY | IMAGE_OPEN_NO_BACKING;
  lbd_image_t *src;
  int r = image_open(p->src_io, NULL, p->src_id, NULL, OBJSTORE_SNAP_HEAD,
                     flags, 0, &src);
  if (r < 0)
    return r;
  for (int i = 0; i < 100; i++) {
    lbd_image_t *dst; /* (its snapshots and header, read afresh) */
    if ((r = image_open(p->dst_io, NULL, p->dst_id, NULL, OBJSTORE_SNAP_HEAD,
                        flags, 0, &dst)) < 0)
      break;
    r = relink_once(p, src, dst);
    char msg[LBD_ERROR_MAX];
    snprintf(msg, sizeof msg, "%s", r < 0 ? lbd_last_error() : "");
    lbd_close(dst); /* (clears the message) */
    if (r != -ECANCELED) {
      if (r < 0)
        lbd_error(r, "%s", msg);
      break;
    }
    lbd_error_clear();
    r = lbd_error(EAGAIN, "the header of image %s keeps changing",
                  p->dst_name);
  }
  char msg[LBD_ERROR_MAX];
  snprintf(msg, sizeof msg, "%s", r < 0 ? lbd_last_error() : "");
  lbd_close(src); /* (clears the message) */
  return r < 0 ? lbd_error(r, "%s", msg) : 0;
}

/* "committing": a clone that is not flattened takes over its source's
 * parent link first, and the parent learns of its new child before the
 * source (its old one) goes. */
static int commit_link(struct pair *p)
{
  int r = 0;
  if (strcmp(p->dst.migration.state, "committing") != 0)
    r = p->have_src && image_keeps_source_parent(&p->dst, &p->src)
            ? relink_to_parent(p)
            : set_state(p->dst_io, p->dst_id, "committing", NULL);
  if (r == 0)
    r = image_header_read(p->dst_io->pool, p->dst_id, &p->dst);
  const struct image_parent *pa = &p->dst.parent;
  if (r == 0 && pa->pool_id >= 0 && !image_parent_is_source(&p->dst)) {
    lbd_ioctx_t *pio;
    if ((r = image_ioctx_by_id(p->dst_io->cluster, pa->pool_id, pa->ns,
                               &pio)) == 0) {
      r = image_child_link(pio, pa->image_id, pa->snap_id, p->dst_io->pool_id,
                           p->dst_io->ns, p->dst_id, true);
      lbd_ioctx_destroy(pio);
    }
  }
  return r;
}

int lbd_migration_commit_flags(lbd_ioctx_t *io, const char *image,
                               unsigned flags, lbd_progress_fn_t progress,
                               void *arg)
{
  lbd_error_clear();
  struct pair p;
  int r = pair_find(io, image, &p);
  if (r < 0)
    return lbd_error_prefix(r, "committing the migration of %s", image);
  bool migrating = p.have_dst &&
                   p.dst.migration.role == IMAGE_MIGRATION_TARGET;
  const char *state = migrating ? p.dst.migration.state : "";
  if (p.have_dst && !migrating) { /* cut after its last step */
    r = commit_marker(&p, false);
    if (r == 0)
      r = clear_links(p.dst_io, p.dst_id, CLEAR_PEER_ONLY);
    pair_free(&p);
    return r < 0 ? lbd_error_prefix(r, "committing the migration of %s",
                                    image)
                 : 0;
  }
  if (!migrating || (strcmp(state, "executed") && strcmp(state, "committing")))
    r = lbd_error(EINVAL, "the migration of %s is %s: commit needs it "
                  "executed ('lbd migration execute')", image,
                  p.have_dst ? state : "missing its target");
  if (r == 0 && strcmp(state, "executed") == 0)
    r = check_descendants(&p, flags);
  char oid[64], cookie[32];
  header_oid(p.dst_id, oid, sizeof oid);
  bool locked = r == 0 && (r = image_step_lock(p.dst_io->pool, oid,
                                               "lbd migration commit",
                                               cookie)) == 0;
  if (r == 0)
    r = commit_link(&p);
  if (r == 0 && p.src_io && !p.dst.migration.import_only)
    r = commit_marker(&p, true);
  if (r == 0 && p.src_io && p.src_id[0]) { /* (its entry may outlive it) */
    r = image_trash_remove(p.src_io, p.src_id, true, true);
    if (r == -ENOENT) { /* removed before a crash */
      lbd_error_clear();
      r = 0;
    }
  }
  if (r == 0 && progress)
    progress(1, 2, arg);
  /* The link to the source, then the role (the keys naming the source
   * stay while the marker does), the marker, those keys.  Cut after the
   * marker went, only the target's name finishes it. */
  bool marked = p.src_io && !p.dst.migration.import_only;
  if (r == 0)
    r = clear_links(p.dst_io, p.dst_id,
                    CLEAR_PARENT | (marked ? CLEAR_KEEP_PEER : 0));
  if (r == 0 && marked)
    r = commit_marker(&p, false);
  if (r == 0 && marked)
    r = clear_links(p.dst_io, p.dst_id, CLEAR_PEER_ONLY);
  if (r == 0 && progress)
    progress(2, 2, arg);
  if (locked)
    image_step_unlock(p.dst_io->pool, oid, cookie);
  pair_free(&p);
  return r < 0 ? lbd_error_prefix(r, "committing the migration of %s", image)
               : 0;
}

/* ---- abort ------------------------------------------------------------- */

/* Put DST's bytes A[I, I+K) at OFF+I into SRC: a discard where zeroes. */
static int copy_back_run(lbd_image_t *src, uint64_t off, const char *a,
                         uint64_t i, uint64_t k, bool zero)
{
  if (!k)
    return 0;
  ssize_t r = zero ? lbd_discard(src, off + i, k)
                   : lbd_write(src, off + i, k, a + i);
  return r < 0 ? (int)r : 0;
}

/* Write into SRC every 4 KiB block of [OFF, OFF+LEN) where DST differs,
 * runs of neighbouring blocks of one kind (data, zeroes) in one call. */
static int copy_back_range(lbd_image_t *dst, lbd_image_t *src, uint64_t off,
                           uint64_t len, char *a, char *b)
{
  ssize_t n = lbd_read(dst, off, len, a);
  ssize_t m = n < 0 ? n : lbd_read(src, off, len, b);
  if (m < 0)
    return (int)m;
  uint64_t run = 0, run_len = 0;
  bool run_zero = false;
  int r = 0;
  for (uint64_t i = 0; r == 0 && i < len; i += BLOCK) {
    uint64_t k = len - i < BLOCK ? len - i : BLOCK;
    bool same = memcmp(a + i, b + i, k) == 0;
    bool zero = a[i] == 0 && memcmp(a + i, a + i + 1, k - 1) == 0;
    if (run_len && (same || zero != run_zero)) {
      r = copy_back_run(src, off, a, run, run_len, run_zero);
      run_len = 0;
    }
    if (!same && !run_len) {
      run = i;
      run_zero = zero;
    }
    if (!same)
      run_len += k;
  }
  return r == 0 ? copy_back_run(src, off, a, run, run_len, run_zero) : r;
}

/* Every object the target has: its bytes, where they differ, to SRC. */
static int copy_back(lbd_image_t *dst, lbd_image_t *src,
                     lbd_progress_fn_t progress, void *arg)
{
  const struct striping *l = &dst->hdr.layout;
  uint64_t size = dst->hdr.size, total = striping_object_count(l, size);
  char prefix[64], after[96];
  int plen = snprintf(prefix, sizeof prefix, IMAGE_DATA_PREFIX "%s.",
                      dst->id);
  snprintf(after, sizeof after, "%s", prefix);
  char *a = malloc(l->stripe_unit), *b = malloc(l->stripe_unit);
  int r = a && b ? 0 : lbd_error(ENOMEM, "out of memory");
  if (r == 0 && src->hdr.size != size)
    r = lbd_resize(src, size);
  /* Past the target's overlap (it shrank, and maybe grew back) the target
   * reads zeroes but where it has objects, copied back below. */
  uint64_t overlap = dst->hdr.parent.overlap;
  if (r == 0 && overlap < size)
    r = lbd_discard(src, overlap, size - overlap);
  bool more = r == 0;
  while (more && r == 0) {
    struct objstore_list_entry *e;
    size_t n;
    if ((r = objstore_list(dst->data, 0, objstore_pool_ns(dst->data), after,
                           256, &e, &n, &more)) < 0)
      break;
    for (size_t i = 0; i < n && r == 0; i++) {
      if (strncmp(e[i].name, prefix, (size_t)plen) != 0) {
        more = false;
        break;
      }
      snprintf(after, sizeof after, "%s", e[i].name);
      uint64_t objectno = strtoull(e[i].name + plen, NULL, 16);
      for (uint64_t o = 0; r == 0 && o < l->object_size; o += l->stripe_unit) {
        uint64_t off = striping_image_offset(l, objectno, o);
        if (off < size)
          r = copy_back_range(dst, src, off,
                              size - off < l->stripe_unit ? size - off
                                                          : l->stripe_unit,
                              a, b);
      }
      if (r == 0 && progress && progress(objectno + 1 < total ? objectno + 1
                                                              : total,
                                         total, arg))
        r = lbd_error(ECANCELED, "stopped");
    }
    objstore_list_free(e, n);
  }
  free(a);
  free(b);
  return r;
}

static int abort_target(struct pair *p, lbd_progress_fn_t progress, void *arg)
{
  char oid[64];
  header_oid(p->dst_id, oid, sizeof oid);
  struct objstore_holder *h;
  size_t n;
  int r = objstore_list_watchers(p->dst_io->pool, oid, &h, &n);
  if (r == 0) {
    if (n)
      r = lbd_error(EBUSY, "image %s is open (%s, pid %d): close it there "
                    "first", p->dst_name, h[0].client, (int)h[0].pid);
    objstore_holders_free(h, n);
  }
  if (r == 0)
    r = set_state(p->dst_io, p->dst_id, "aborting", NULL);
  lbd_image_t *dst = NULL, *src = NULL;
  if (r == 0 && p->have_src &&
      (r = image_open(p->dst_io, NULL, p->dst_id, NULL, OBJSTORE_SNAP_HEAD,
                      LBD_OPEN_READ_ONLY, 0, &dst)) == 0 &&
      (r = image_open(p->src_io, NULL, p->src_id, NULL, OBJSTORE_SNAP_HEAD,
                      IMAGE_OPEN_MIGRATION, 0, &src)) == 0)
    r = copy_back(dst, src, progress, arg);
  if (src) {
    int e = lbd_close(src); /* flushes: the writes are safe in the source */
    if (r == 0)
      r = e;
  }
  lbd_close(dst);
  if (r == 0 && p->have_src) /* the clones read the source again */
    r = migration_relink_children(p->dst_io->cluster, p->dst_io, p->dst_id,
                                  p->src_io, p->src_id);
  if (r == 0)
    r = image_remove_storage(p->dst_io, p->dst_id, &p->dst, NULL, NULL);
  char id[IMAGE_ID_LEN + 1];
  if (r == 0 && image_dir_lookup(p->dst_io->pool, p->dst_name, id) == 0 &&
      strcmp(id, p->dst_id) == 0)
    r = image_dir_remove(p->dst_io->pool, p->dst_name, p->dst_id);
  if (r == 0)
    lbd_error_clear();
  return r;
}

/* Give the source back: out of the trash, then without its links. */
static int restore_source(struct pair *p)
{
  struct image_trash_entry e;
  char id[IMAGE_ID_LEN + 1];
  int r = 0;
  /* An abort cut between the target's removal and its name's: the name
   * goes first (an in-place migration's source wants it back). */
  if (p->dst_io && image_dir_lookup(p->dst_io->pool, p->dst_name, id) == 0 &&
      strcmp(id, p->dst_id) == 0 &&
      (r = image_dir_remove(p->dst_io->pool, p->dst_name, p->dst_id)) < 0)
    return r;
  lbd_error_clear();
  r = image_trash_get(p->src_io->pool, p->src_id, &e);
  if (r == 0)
    r = image_trash_restore(p->src_io, p->src_id, NULL, true);
  else if (r == -ENOENT)
    r = 0;
  if (r == 0)
    r = clear_links(p->src_io, p->src_id, 0);
  return r;
}

static int migration_undo(struct pair *p)
{
  int r = 0;
  if (p->have_dst ||
      image_header_read(p->dst_io->pool, p->dst_id, &p->dst) == 0) {
    p->have_dst = true;
    r = abort_target(p, NULL, NULL);
  }
  lbd_error_clear();
  if (r == 0 && p->have_src)
    r = restore_source(p);
  return r;
}

int lbd_migration_abort(lbd_ioctx_t *io, const char *image,
                        lbd_progress_fn_t progress, void *arg)
{
  lbd_error_clear();
  struct pair p;
  int r = pair_find(io, image, &p);
  if (r < 0)
    return lbd_error_prefix(r, "aborting the migration of %s", image);
  if (p.have_dst && (strcmp(p.dst.migration.state, "committing") == 0 ||
                     p.dst.migration.role == IMAGE_MIGRATION_NONE))
    r = lbd_error(EINVAL, "the migration of %s is being committed: run "
                  "'lbd migration commit' again to finish", image);
  char oid[64], cookie[32];
  header_oid(p.dst_id, oid, sizeof oid);
  bool locked = false;
  if (r == 0 && p.have_dst) /* no execute may copy in meanwhile */
    locked = (r = image_step_lock(p.dst_io->pool, oid, "lbd migration abort",
                                  cookie)) == 0;
  if (r == 0 && p.have_dst)
    r = abort_target(&p, progress, arg);
  if (locked)
    image_step_unlock(p.dst_io->pool, oid, cookie);
  if (r == 0 && p.have_src)
    r = restore_source(&p);
  pair_free(&p);
  return r < 0 ? lbd_error_prefix(r, "aborting the migration of %s", image)
               : 0;
}

/* ---- status ------------------------------------------------------------ */

/* An import's source-spec, with every key as "***". */
static int import_spec_redacted(lbd_ioctx_t *io, const char *id, char *buf,
                                size_t size)
{
  char oid[64];
  header_oid(id, oid, sizeof oid);
  const char *keys[] = {"migration_source_spec"};
  struct objstore_kv *kvs;
  size_t n;
  int r = objstore_omap_get_keys(io->pool, oid, keys, 1, &kvs, &n);
  if (r < 0)
    return r;
  char *text = n ? source_spec_redacted(kvs[0].value) : NULL;
  snprintf(buf, size, "%s", text ? text : "(unreadable source-spec)");
  free(text);
  objstore_kv_free(kvs, n);
  return 0;
}

static void name_pool(lbd_ioctx_t *io, char *pool, char *ns)
{
  snprintf(pool, 129, "%s", io ? io->pool_name : "");
  snprintf(ns, 129, "%s", io ? io->ns : "");
}

int lbd_migration_status(lbd_ioctx_t *io, const char *image,
                         struct lbd_migration_status *st)
{
  lbd_error_clear();
  memset(st, 0, sizeof *st);
  struct pair p;
  int r = pair_find(io, image, &p);
  if (r < 0)
    return r;
  name_pool(p.src_io, st->source_pool, st->source_ns);
  name_pool(p.dst_io, st->dest_pool, st->dest_ns);
  snprintf(st->source_image, sizeof st->source_image, "%s", p.src_name);
  snprintf(st->source_id, sizeof st->source_id, "%s", p.src_id);
  snprintf(st->dest_image, sizeof st->dest_image, "%s", p.dst_name);
  snprintf(st->dest_id, sizeof st->dest_id, "%s", p.dst_id);
  const struct image_migration *m =
      p.have_dst ? &p.dst.migration : &p.src.migration;
  /* Found by a commit marker (a commit cut after it let go of the links):
   * the commit is what is left to do. */
  snprintf(st->state, sizeof st->state, "%s",
           m->role == IMAGE_MIGRATION_NONE ? "committing" : m->state);
  snprintf(st->state_desc, sizeof st->state_desc, "%s", m->state_desc);
  if (p.have_dst && p.dst.migration.import_only)
    r = import_spec_redacted(p.dst_io, p.dst_id, st->source_spec,
                             sizeof st->source_spec);
  pair_free(&p);
  return r;
}
