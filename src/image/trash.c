/* The trash: move, list, restore, remove and purge (see trash.h for the
 * format and the crash-safe order of the steps). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image/trash.h"
#include "util/error.h"

#define RETRIES 100
#define ENTRY_FORMAT 1

static const char *const state_names[] = {"moving", "normal", "restoring",
                                          "removing"};

const char *lbd_trash_source_name(enum lbd_trash_source source)
{
  return source == LBD_TRASH_SOURCE_MIGRATION ? "migration" : "user";
}

static void entry_key(const char *id, char *buf, size_t size)
{
  snprintf(buf, size, "id_%s", id);
}

static int check_id(const char *id)
{
  if (!id || !*id)
    return lbd_error(EINVAL, "image id is empty");
  size_t n = strlen(id);
  if (n > IMAGE_ID_LEN || strspn(id, "0123456789abcdef") != n)
    return lbd_error(EINVAL, "invalid image id \"%.64s\": an id is %d "
                     "lower-case hex digits (see 'lbd trash ls')", id,
                     IMAGE_ID_LEN);
  return 0;
}

/* ---- entries ------------------------------------------------------------ */

static int entry_format(const struct image_trash_entry *e, char *buf,
                        size_t size)
{
  return snprintf(buf, size, "%d %s %s %" PRId64 " %" PRId64 " %s",
                  ENTRY_FORMAT, lbd_trash_source_name(e->source),
                  state_names[e->state], e->deletion_time, e->deferment_end,
                  e->name);
}

static int entry_parse(const char *id, const char *value,
                       struct image_trash_entry *e)
{
  char source[16], state[16];
  int format, pos = -1;
  memset(e, 0, sizeof *e);
  /* The name is everything after exactly one space: it may start with
   * spaces of its own. */
  if (sscanf(value, "%d %15s %15s %" SCNd64 " %" SCNd64 "%n", &format,
             source, state, &e->deletion_time, &e->deferment_end, &pos) != 5 ||
      pos < 0 || format != ENTRY_FORMAT || value[pos] != ' ' ||
      !value[pos + 1] || strlen(value + pos + 1) > IMAGE_MAX_NAME)
    return lbd_error(EIO, "trash entry of image id %s is damaged", id);
  pos++;
  if (strcmp(source, "user") == 0)
    e->source = LBD_TRASH_SOURCE_USER;
  else if (strcmp(source, "migration") == 0)
    e->source = LBD_TRASH_SOURCE_MIGRATION;
  else
    return lbd_error(EIO, "trash entry of image id %s has an unknown source "
                     "\"%s\"", id, source);
  size_t i;
  for (i = 0; i < sizeof state_names / sizeof *state_names; i++)
    if (strcmp(state, state_names[i]) == 0)
      break;
  if (i == sizeof state_names / sizeof *state_names)
    return lbd_error(EIO, "trash entry of image id %s has an unknown state "
                     "\"%s\"", id, state);
  e->state = (enum image_trash_state)i;
  snprintf(e->id, sizeof e->id, "%s", id);
  snprintf(e->name, sizeof e->name, "%s", value + pos);
  return 0;
}

/* The version of lbd_trash (0 if missing) and the entry of ID: 0 and
 * *FOUND true or false. */
static int entry_read(struct objstore_pool *pool, const char *id,
                      uint64_t *version, struct image_trash_entry *e,
                      bool *found)
{
  struct objstore_stat st;
  *found = false;
  *version = 0;
  int r = objstore_stat(pool, IMAGE_TRASH, OBJSTORE_SNAP_HEAD, &st);
  if (r == -ENOENT) {
    lbd_error_clear();
    return 0;
  }
  if (r < 0)
    return r;
  *version = st.version;
  char key[IMAGE_ID_LEN + 8];
  entry_key(id, key, sizeof key);
  const char *keys[] = {key};
  struct objstore_kv *kvs;
  size_t n;
  r = objstore_omap_get_keys(pool, IMAGE_TRASH, keys, 1, &kvs, &n);
  if (r == -ENOENT) {
    lbd_error_clear();
    return 0;
  }
  if (r < 0)
    return r;
  if (n == 1) {
    r = entry_parse(id, kvs[0].value, e);
    *found = r == 0;
  }
  objstore_kv_free(kvs, n);
  return r;
}

/* Write E (or remove ID's entry if E is NULL) if lbd_trash is still at
 * VERSION: ECANCELED if not. */
static int entry_write(struct objstore_pool *pool, uint64_t version,
                       const char *id, const struct image_trash_entry *e)
{
  char key[IMAGE_ID_LEN + 8], value[IMAGE_MAX_NAME + 128];
  entry_key(id, key, sizeof key);
  struct objstore_write_op *op = objstore_write_op_new();
  if (!op)
    return lbd_error(ENOMEM, "out of memory");
  objstore_write_op_create(op, false);
  objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, version);
  if (e) {
    int n = entry_format(e, value, sizeof value);
    objstore_write_op_omap_set(op, key, value, (size_t)n);
  } else {
    objstore_write_op_omap_rm(op, key);
  }
  int r = objstore_write_op_operate(pool, IMAGE_TRASH, op, NULL,
                                    OBJSTORE_OP_FUA);
  objstore_write_op_free(op);
  return r;
}

/* The name ID has in the directory: 1 (and NAME) if any, else 0. */
static int dir_name_of(struct objstore_pool *pool, const char *id,
                       char name[IMAGE_MAX_NAME + 1])
{
  char key[IMAGE_ID_LEN + 8];
  entry_key(id, key, sizeof key);
  const char *keys[] = {key};
  struct objstore_kv *kvs;
  size_t n;
  int r = objstore_omap_get_keys(pool, IMAGE_DIRECTORY, keys, 1, &kvs, &n);
  if (r == -ENOENT) {
    lbd_error_clear();
    return 0;
  }
  if (r < 0)
    return r;
  if (n == 1)
    snprintf(name, IMAGE_MAX_NAME + 1, "%s", (const char *)kvs[0].value);
  objstore_kv_free(kvs, n);
  return n == 1;
}

/* Read ID's entry and do the last step of an interrupted move or restore
 * (see trash.h).  *FOUND false: not in the trash (anymore); *RESTORED
 * (may be NULL) true if that is because this call finished a restore. */
static int entry_get_settled_r(struct objstore_pool *pool, const char *id,
                               uint64_t *version, struct image_trash_entry *e,
                               bool *found, bool *restored)
{
  if (restored)
    *restored = false;
  for (int i = 0; i < RETRIES; i++) {
    int r = entry_read(pool, id, version, e, found);
    if (r < 0 || !*found ||
        (e->state != IMAGE_TRASH_MOVING && e->state != IMAGE_TRASH_RESTORING))
      return r;
    char name[IMAGE_MAX_NAME + 1];
    int in_dir = dir_name_of(pool, id, name);
    if (in_dir < 0)
      return in_dir;
    if (e->state == IMAGE_TRASH_MOVING && !in_dir) {
      e->state = IMAGE_TRASH_NORMAL;
      r = entry_write(pool, *version, id, e);
    } else if (e->state == IMAGE_TRASH_RESTORING && in_dir) {
      r = entry_write(pool, *version, id, NULL);
      if (r == 0 && restored)
        *restored = true;
    } else {
      return 0; /* the interrupted command has to say how to go on */
    }
    if (r < 0 && r != -ECANCELED)
      return r;
  }
  return lbd_error(EAGAIN, "the trash keeps changing: try again");
}

static int entry_get_settled(struct objstore_pool *pool, const char *id,
                             uint64_t *version, struct image_trash_entry *e,
                             bool *found)
{
  return entry_get_settled_r(pool, id, version, e, found, NULL);
}

int image_trash_get(struct objstore_pool *pool, const char *id,
                    struct image_trash_entry *entry)
{
  uint64_t version;
  bool found;
  int r = check_id(id);
  if (r == 0)
    r = entry_get_settled(pool, id, &version, entry, &found);
  if (r == 0 && !found)
    r = lbd_error(ENOENT, "image id %s is not in the trash", id);
  return r;
}

int image_trash_add(struct objstore_pool *pool, const char *id,
                    const char *name, enum lbd_trash_source source,
                    int64_t deletion_time, int64_t deferment_end)
{
  struct image_trash_entry e = {.source = source,
                                .state = IMAGE_TRASH_NORMAL,
                                .deletion_time = deletion_time,
                                .deferment_end = deferment_end};
  int r = check_id(id);
  if (r == 0)
    r = image_check_name("image name", name);
  if (r < 0)
    return r;
  snprintf(e.id, sizeof e.id, "%s", id);
  snprintf(e.name, sizeof e.name, "%s", name);
  for (int i = 0; i < RETRIES; i++) {
    uint64_t version;
    bool found;
    struct image_trash_entry old;
    if ((r = entry_read(pool, id, &version, &old, &found)) < 0)
      return r;
    if (found)
      return lbd_error(EEXIST, "image id %s is in the trash already", id);
    if ((r = entry_write(pool, version, id, &e)) != -ECANCELED)
      return r;
  }
  return lbd_error(EAGAIN, "the trash keeps changing: try again");
}

/* ---- move ------------------------------------------------------------- */

static int check_no_watchers(struct objstore_pool *pool, const char *id,
                             const char *name)
{
  char oid[64];
  struct objstore_holder *h;
  size_t n;
  snprintf(oid, sizeof oid, IMAGE_HEADER_PREFIX "%s", id);
  int r = objstore_list_watchers(pool, oid, &h, &n);
  if (r == -ENOENT) { /* no header: nothing can have it open */
    lbd_error_clear();
    return 0;
  }
  if (r < 0)
    return r;
  if (n)
    r = lbd_error(EBUSY, "image %s is still open (%s, pid %d%s): close it "
                  "there first", name, h[0].client, (int)h[0].pid,
                  n > 1 ? ", and others" : "");
  objstore_holders_free(h, n);
  return r;
}

/* The id of a moving entry named NAME, if any: a move that crashed after
 * it dropped the name from the directory. */
static int find_moving(struct objstore_pool *pool, const char *name,
                       char id[IMAGE_ID_LEN + 1])
{
  char after[IMAGE_ID_LEN + 8] = "";
  bool more = true;
  int found = 0;
  while (!found && more) {
    struct objstore_kv *kvs;
    size_t n;
    int r = objstore_omap_get(pool, IMAGE_TRASH, after, 256, &kvs, &n, &more);
    if (r == -ENOENT) {
      lbd_error_clear();
      return 0;
    }
    if (r < 0)
      return r;
    for (size_t i = 0; i < n && !found; i++) {
      struct image_trash_entry e;
      if (strncmp(kvs[i].key, "id_", 3) == 0 &&
          entry_parse(kvs[i].key + 3, kvs[i].value, &e) == 0 &&
          e.state == IMAGE_TRASH_MOVING && strcmp(e.name, name) == 0) {
        snprintf(id, IMAGE_ID_LEN + 1, "%s", e.id);
        found = 1;
      }
    }
    if (n)
      snprintf(after, sizeof after, "%s", kvs[n - 1].key);
    objstore_kv_free(kvs, n);
  }
  lbd_error_clear();
  return found;
}

static int trash_move(lbd_ioctx_t *io, const char *name,
                      enum lbd_trash_source source, uint64_t delay)
{
  struct objstore_pool *pool = io->pool;
  char id[IMAGE_ID_LEN + 1];
  int64_t now = (int64_t)time(NULL);
  if (delay > (uint64_t)INT64_MAX - (uint64_t)now)
    return lbd_error(EINVAL, "deferment of %" PRIu64 " seconds is too long",
                     delay);
  int r = image_check_name("image name", name);
  if (r < 0)
    return r;
  if ((r = image_dir_lookup(pool, name, id)) == -ENOENT) {
    /* A move that crashed after dropping the name: finish it. */
    char msg[LBD_ERROR_MAX];
    snprintf(msg, sizeof msg, "%s", lbd_last_error());
    int f = find_moving(pool, name, id);
    if (f <= 0)
      return f < 0 ? f : lbd_error(ENOENT, "%s", msg);
    struct image_trash_entry e;
    return image_trash_get(pool, id, &e); /* settles it */
  }
  if (r < 0)
    return r;
  struct image_header hdr;
  if ((r = image_header_read(pool, id, &hdr)) < 0)
    return r == -ENOENT
               ? lbd_error(ENOENT, "image %s has no header (a removal was "
                           "interrupted): finish it with 'lbd rm %s'", name,
                           name)
               : r;
  if (source == LBD_TRASH_SOURCE_USER &&
      hdr.migration.role != IMAGE_MIGRATION_NONE)
    return lbd_error(EBUSY, "image %s is being migrated: commit or abort the "
                     "migration first", name);
  if ((r = check_no_watchers(pool, id, name)) < 0)
    return r;

  /* Step 1: the entry, in state moving. */
  struct image_trash_entry e;
  uint64_t version;
  bool found;
  for (int i = 0;; i++) {
    if (i == RETRIES)
      return lbd_error(EAGAIN, "the trash keeps changing: try again");
    if ((r = entry_read(pool, id, &version, &e, &found)) < 0)
      return r;
    if (found) {
      if (e.source != source)
        return lbd_error(EBUSY, "image %s is in the trash already as the "
                         "source of a migration", name);
      if (e.state == IMAGE_TRASH_RESTORING)
        return lbd_error(EBUSY, "image %s is being restored from the trash: "
                         "finish that with 'lbd trash restore %s'", name, id);
      if (e.state == IMAGE_TRASH_REMOVING)
        return lbd_error(EBUSY, "image %s is being removed from the trash: "
                         "finish that with 'lbd trash rm %s'", name, id);
      break; /* an earlier move of this image was interrupted */
    }
    e = (struct image_trash_entry){.source = source,
                                   .state = IMAGE_TRASH_MOVING,
                                   .deletion_time = now,
                                   .deferment_end = now + (int64_t)delay};
    snprintf(e.id, sizeof e.id, "%s", id);
    snprintf(e.name, sizeof e.name, "%s", name);
    if ((r = entry_write(pool, version, id, &e)) == 0)
      break;
    if (r != -ECANCELED)
      return r;
  }

  /* Step 2: out of the directory, under whatever name it has now. */
  for (int i = 0;; i++) {
    char cur[IMAGE_MAX_NAME + 1];
    if (i == RETRIES)
      return lbd_error(EAGAIN, "the image directory keeps changing: try "
                       "again");
    if ((r = dir_name_of(pool, id, cur)) < 0)
      return r;
    if (r == 0)
      break;
    if ((r = image_dir_remove(pool, cur, id)) == 0)
      break;
    if (r != -ENOENT)
      return r;
  }

  /* Step 3: the entry becomes normal (by entry_get_settled). */
  return image_trash_get(pool, id, &e);
}

int image_trash_move(lbd_ioctx_t *io, const char *name,
                     enum lbd_trash_source source, uint64_t delay)
{
  int r = trash_move(io, name, source, delay);
  return r < 0 ? lbd_error_prefix(r, "moving image %s to the trash",
                                  name ? name : "") : 0;
}

int lbd_trash_move(lbd_ioctx_t *io, const char *name, uint64_t delay)
{
  lbd_error_clear();
  return image_trash_move(io, name, LBD_TRASH_SOURCE_USER, delay);
}

/* ---- list --------------------------------------------------------------- */

static void entry_info(const struct image_trash_entry *e,
                       struct lbd_trash_info *info)
{
  memset(info, 0, sizeof *info);
  snprintf(info->id, sizeof info->id, "%s", e->id);
  snprintf(info->name, sizeof info->name, "%s", e->name);
  info->source = e->source;
  info->deletion_time = e->deletion_time;
  info->deferment_end_time = e->deferment_end;
}

int lbd_trash_list(lbd_ioctx_t *io, bool all, struct lbd_trash_info **entries,
                   size_t *count)
{
  lbd_error_clear();
  *entries = NULL;
  *count = 0;
  char after[IMAGE_ID_LEN + 8] = "";
  bool more = true;
  int r = 0;
  while (r == 0 && more) {
    struct objstore_kv *kvs;
    size_t n;
    r = objstore_omap_get(io->pool, IMAGE_TRASH, after, 256, &kvs, &n, &more);
    if (r == -ENOENT) { /* no trash yet */
      lbd_error_clear();
      r = 0;
      break;
    }
    if (r < 0)
      break;
    struct lbd_trash_info *p = realloc(*entries, (*count + n + 1) * sizeof *p);
    if (!p) {
      objstore_kv_free(kvs, n);
      r = lbd_error(ENOMEM, "out of memory");
      break;
    }
    *entries = p;
    for (size_t i = 0; i < n && r == 0; i++) {
      struct image_trash_entry e;
      if (strncmp(kvs[i].key, "id_", 3) != 0)
        continue;
      if ((r = entry_parse(kvs[i].key + 3, kvs[i].value, &e)) < 0)
        break;
      if (!all && e.source != LBD_TRASH_SOURCE_USER)
        continue;
      entry_info(&e, &p[(*count)++]);
    }
    if (n)
      snprintf(after, sizeof after, "%s", kvs[n - 1].key);
    objstore_kv_free(kvs, n);
  }
  if (r < 0) {
    free(*entries);
    *entries = NULL;
    *count = 0;
    return lbd_error_prefix(r, "listing the trash");
  }
  return 0;
}

void lbd_trash_list_free(struct lbd_trash_info *entries, size_t count)
{
  (void)count;
  free(entries);
}

int lbd_trash_get(lbd_ioctx_t *io, const char *id, struct lbd_trash_info *info)
{
  lbd_error_clear();
  struct image_trash_entry e;
  int r = image_trash_get(io->pool, id, &e);
  if (r < 0)
    return r;
  entry_info(&e, info);
  return 0;
}

/* ---- restore ------------------------------------------------------------ */

static int trash_restore(lbd_ioctx_t *io, const char *id, const char *new_name,
                         bool any_source)
{
  struct objstore_pool *pool = io->pool;
  struct image_trash_entry e;
  uint64_t version;
  bool found;
  int r = check_id(id);
  if (r == 0 && new_name)
    r = image_check_name("new image name", new_name);
  if (r < 0)
    return r;
  char name[IMAGE_MAX_NAME + 1], cur[IMAGE_MAX_NAME + 1];

  /* Step 1: the entry becomes restoring. */
  for (int i = 0;; i++) {
    if (i == RETRIES)
      return lbd_error(EAGAIN, "the trash keeps changing: try again");
    bool restored;
    if ((r = entry_get_settled_r(pool, id, &version, &e, &found,
                                 &restored)) < 0)
      return r;
    if (!found && restored) /* an interrupted restore, now finished */
      return 0;
    if (!found)
      return lbd_error(ENOENT, "image id %s is not in the trash", id);
    if (e.source != LBD_TRASH_SOURCE_USER && !any_source)
      return lbd_error(EPERM, "image %s (id %s) is in the trash as the source "
                       "of a migration: commit or abort the migration "
                       "instead", e.name, id);
    if (e.state == IMAGE_TRASH_REMOVING)
      return lbd_error(EBUSY, "image %s (id %s) is being removed: finish "
                       "that with 'lbd trash rm %s'", e.name, id, id);
    snprintf(name, sizeof name, "%s", new_name ? new_name : e.name);
    if (e.state == IMAGE_TRASH_RESTORING)
      break; /* an earlier restore was interrupted */
    /* Refuse a taken name before changing anything. */
    if ((r = dir_name_of(pool, id, cur)) < 0)
      return r;
    if (r == 0) {
      char other[IMAGE_ID_LEN + 1];
      r = image_dir_lookup(pool, name, other);
      if (r == 0)
        return lbd_error(EEXIST, "image %s already exists: restore under "
                         "another name (--image)", name);
      if (r != -ENOENT)
        return r;
      lbd_error_clear();
    }
    enum image_trash_state old = e.state;
    e.state = IMAGE_TRASH_RESTORING;
    if ((r = entry_write(pool, version, id, &e)) == 0) {
      version = 0; /* unknown now */
      e.state = old;
      break;
    }
    if (r != -ECANCELED)
      return r;
  }

  /* Step 2: back in the directory (unless it is there still or again). */
  if ((r = dir_name_of(pool, id, cur)) < 0)
    return r;
  if (r == 0 && (r = image_dir_add(pool, name, id)) < 0) {
    if (r == -EEXIST) { /* lost a race for the name: back to the old state */
      char msg[LBD_ERROR_MAX];
      snprintf(msg, sizeof msg, "%s", lbd_last_error());
      for (int i = 0; i < RETRIES; i++) {
        struct image_trash_entry now;
        if (entry_read(pool, id, &version, &now, &found) < 0 || !found ||
            now.state != IMAGE_TRASH_RESTORING)
          break;
        now.state = e.state == IMAGE_TRASH_RESTORING ? IMAGE_TRASH_NORMAL
                                                     : e.state;
        if (entry_write(pool, version, id, &now) != -ECANCELED)
          break;
      }
      return lbd_error(EEXIST, "%s: restore under another name (--image)",
                       msg);
    }
    return r;
  }

  /* Step 3: the entry goes (by entry_get_settled). */
  return entry_get_settled(pool, id, &version, &e, &found);
}

int image_trash_restore(lbd_ioctx_t *io, const char *id, const char *new_name,
                        bool any_source)
{
  int r = trash_restore(io, id, new_name, any_source);
  return r < 0 ? lbd_error_prefix(r, "restoring image id %s from the trash",
                                  id ? id : "")
               : 0;
}

int lbd_trash_restore(lbd_ioctx_t *io, const char *id, const char *new_name)
{
  lbd_error_clear();
  return image_trash_restore(io, id, new_name, false);
}

/* ---- remove ------------------------------------------------------------- */

static void fmt_time(int64_t t, char *buf, size_t size)
{
  time_t tt = (time_t)t;
  struct tm tm;
  if (localtime_r(&tt, &tm))
    strftime(buf, size, "%a %b %e %H:%M:%S %Y", &tm);
  else
    snprintf(buf, size, "%" PRId64, t);
}

static int trash_remove(lbd_ioctx_t *io, const char *id, bool force,
                        bool any_source)
{
  struct objstore_pool *pool = io->pool;
  struct image_trash_entry e;
  uint64_t version;
  bool found;
  int r = check_id(id);
  if (r < 0)
    return r;

  /* Step 1: the entry becomes removing. */
  for (int i = 0;; i++) {
    if (i == RETRIES)
      return lbd_error(EAGAIN, "the trash keeps changing: try again");
    if ((r = entry_get_settled(pool, id, &version, &e, &found)) < 0)
      return r;
    if (!found)
      return lbd_error(ENOENT, "image id %s is not in the trash", id);
    if (e.source != LBD_TRASH_SOURCE_USER && !any_source)
      return lbd_error(EPERM, "image %s (id %s) is in the trash as the source "
                       "of a migration: commit or abort the migration "
                       "instead", e.name, id);
    if (e.state == IMAGE_TRASH_REMOVING)
      break; /* an earlier removal was interrupted: go on */
    if (e.state == IMAGE_TRASH_MOVING)
      return lbd_error(EBUSY, "image %s (id %s) is not fully moved to the "
                       "trash: finish with 'lbd trash mv %s', or 'lbd trash "
                       "restore %s'", e.name, id, e.name, id);
    if (e.state == IMAGE_TRASH_RESTORING)
      return lbd_error(EBUSY, "image %s (id %s) is being restored: finish "
                       "that with 'lbd trash restore %s'", e.name, id, id);
    int64_t now = (int64_t)time(NULL);
    if (!force && now < e.deferment_end) {
      char until[64];
      fmt_time(e.deferment_end, until, sizeof until);
      return lbd_error(EPERM, "image %s (id %s) is protected until %s "
                       "(deferment time has not expired): use --force to "
                       "remove it anyway", e.name, id, until);
    }
    /* A migration's source is open read-only at most (by the target's
     * clients, reading nothing it still needs once the commit runs). */
    if (e.source == LBD_TRASH_SOURCE_USER &&
        (r = check_no_watchers(pool, id, e.name)) < 0)
      return r;
    e.state = IMAGE_TRASH_REMOVING;
    if ((r = entry_write(pool, version, id, &e)) == 0)
      break;
    if (r != -ECANCELED)
      return r;
  }

  /* Step 2: data objects, then the header (with its metadata).  Each is
   * removed alone, so a crash leaves some of them: running the removal
   * again removes the rest. */
  struct image_header hdr;
  r = image_header_read(pool, id, &hdr);
  if (r == 0 && e.source == LBD_TRASH_SOURCE_USER &&
      (r = check_no_watchers(pool, id, e.name)) < 0)
    return r;
  if (r < 0 && r != -ENOENT)
    return r;
  if ((r = image_remove_storage(io, id, r == 0 ? &hdr : NULL, NULL, NULL)) < 0)
    return r;

  /* Step 3: the entry goes. */
  for (int i = 0; i < RETRIES; i++) {
    if ((r = entry_read(pool, id, &version, &e, &found)) < 0)
      return r;
    if (!found)
      break;
    if ((r = entry_write(pool, version, id, NULL)) != -ECANCELED)
      break;
  }
  if (r == 0)
    lbd_error_clear();
  return r == -ECANCELED ? lbd_error(EAGAIN, "the trash keeps changing: try "
                                     "again") : r;
}

int image_trash_remove(lbd_ioctx_t *io, const char *id, bool force,
                       bool any_source)
{
  int r = trash_remove(io, id, force, any_source);
  return r < 0 ? lbd_error_prefix(r, "removing image id %s from the trash",
                                  id ? id : "")
               : 0;
}

int lbd_trash_remove(lbd_ioctx_t *io, const char *id, bool force)
{
  lbd_error_clear();
  return image_trash_remove(io, id, force, false);
}

int lbd_trash_purge(lbd_ioctx_t *io, int64_t expired_before, size_t *removed)
{
  struct lbd_trash_info *entries;
  size_t n, done = 0, failed = 0;
  char first_msg[LBD_ERROR_MAX] = "";
  int first = 0;
  lbd_error_clear();
  if (removed)
    *removed = 0;
  if (expired_before < 0)
    return lbd_error(EINVAL, "purging the trash: negative expiry time");
  if (expired_before == 0)
    expired_before = (int64_t)time(NULL);
  int r = lbd_trash_list(io, false, &entries, &n);
  if (r < 0)
    return lbd_error_prefix(r, "purging the trash");
  for (size_t i = 0; i < n; i++) {
    if (entries[i].deferment_end_time > expired_before)
      continue;
    r = image_trash_remove(io, entries[i].id, true, false);
    if (r == 0) {
      done++;
    } else if (r != -ENOENT) { /* ENOENT: removed by another client */
      failed++;
      if (!first) {
        first = r;
        snprintf(first_msg, sizeof first_msg, "%s", lbd_last_error());
      }
    }
  }
  lbd_trash_list_free(entries, n);
  if (removed)
    *removed = done;
  if (first)
    return lbd_error(first, "purging the trash: %zu expired image(s) not "
                     "removed; the first: %s", failed, first_msg);
  lbd_error_clear();
  return 0;
}
