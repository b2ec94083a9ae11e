/* Pool check: metadata and data files must agree.  A crash between a
 * data file's creation and its commit, or between a commit and the unlink
 * of the file it replaced, leaves an orphan; repair removes it.  A file
 * still being created is locked by its creator and left alone. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objstore/local/local.h"
#include "util/error.h"

DEFINE_VECTOR(u64_vec, uint64_t);

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static bool contains(const struct u64_vec *v, uint64_t id)
{
  return v->len && bsearch(&id, v->ptr, v->len, sizeof id, cmp_u64) != NULL;
}

/* Every data file id that a record names, sorted; in UNSYNCED (if not
 * NULL), those of heads created empty and never synced, which a power loss
 * may take (the object is then empty, not damaged). */
static int referenced_files(struct objstore_backend_pool *bp,
                            struct u64_vec *ids, struct u64_vec *unsynced,
                            uint64_t *objects)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  ids->len = 0;
  int r = kvenv_begin(bp->kv, false, &txn);
  if (r < 0)
    return r;
  int rc = mdb_cursor_open(txn, bp->kv->dbi[LDB_OBJ], &cur);
  bool cur_open = rc == 0;
  MDB_val k, v;
  for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    struct local_record rec;
    if ((r = local_record_decode(v.mv_data, v.mv_size, &rec)) < 0)
      break;
    if (rec.head_exists) {
      r = u64_vec_push(ids, rec.head_file);
      if (r == 0 && unsynced && rec.head_unsynced)
        r = u64_vec_push(unsynced, rec.head_file);
      (*objects)++;
    }
    for (size_t i = 0; r == 0 && i < rec.nclones; i++) {
      r = u64_vec_push(ids, rec.clones[i].file);
      (*objects)++;
    }
    local_record_free(&rec);
    if (r == -ENOMEM)
      r = lbd_error(ENOMEM, "out of memory");
  }
  if (cur_open)
    mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  if (r == 0 && rc && rc != MDB_NOTFOUND)
    r = kvenv_error(rc, "reading object records");
  if (r == 0 && ids->len > 1)
    qsort(ids->ptr, ids->len, sizeof *ids->ptr, cmp_u64);
  if (r == 0 && unsynced && unsynced->len > 1)
    qsort(unsynced->ptr, unsynced->len, sizeof *unsynced->ptr, cmp_u64);
  return r;
}

/* Every data file present, as ids. */
static int present_files(struct objstore_backend_pool *bp, struct u64_vec *ids)
{
  int r = 0;
  for (int i = 0; i < 256 && r == 0; i++) {
    char name[4];
    snprintf(name, sizeof name, "%02x", i);
    int fd = openat(bp->data_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
      if (fd >= 0)
        close(fd);
      return lbd_error(errno, "reading %s/data/%s: %s", bp->path, name,
                       strerror(errno));
    }
    struct dirent *e;
    while (r == 0 && (e = readdir(d))) {
      char *end;
      uint64_t id = strtoull(e->d_name, &end, 16);
      if (e->d_name[0] != '.' && *end == '\0' && u64_vec_push(ids, id) < 0)
        r = lbd_error(ENOMEM, "out of memory");
    }
    closedir(d);
  }
  return r;
}

/* A referenced file absent from the scan: missing only if it is still
 * referenced now and still absent (it may have been replaced meanwhile). */
static bool really_missing(struct objstore_backend_pool *bp, uint64_t id,
                           const struct u64_vec *refs_now)
{
  if (!contains(refs_now, id))
    return false;
  int fd = local_file_open(bp, id, O_RDONLY);
  if (fd >= 0)
    close(fd);
  return fd == -ENOENT;
}

int local_check(struct objstore_backend_pool *bp, bool repair,
                struct objstore_check_report *report)
{
  struct u64_vec refs = {0}, present = {0}, locked_fds = {0}, locked_ids = {0};
  struct u64_vec absent = {0}, unsynced = {0};
  /* Settle killed writers' commits, make every commit durable and unlink
   * the files they freed: what is unreferenced now is a leftover. */
  int r = kvenv_refresh(bp->kv);
  if (r == 0)
    r = local_file_reap(bp);
  if (r == 0)
    r = referenced_files(bp, &refs, NULL, &report->objects);
  if (r == 0)
    r = present_files(bp, &present);
  if (r < 0)
    goto out;
  if (present.len > 1)
    qsort(present.ptr, present.len, sizeof *present.ptr, cmp_u64);
  for (size_t i = 0; i < refs.len && r == 0; i++)
    if (!contains(&present, refs.ptr[i]) && u64_vec_push(&absent, refs.ptr[i]) < 0)
      r = lbd_error(ENOMEM, "out of memory");
  for (size_t i = 0; i < present.len && r == 0; i++) {
    if (contains(&refs, present.ptr[i]))
      continue;
    int fd = local_file_open(bp, present.ptr[i], O_RDWR);
    if (fd < 0)
      continue;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1};
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0) { /* being created right now */
      close(fd);
      continue;
    }
    if (u64_vec_push(&locked_fds, (uint64_t)fd) < 0 ||
        u64_vec_push(&locked_ids, present.ptr[i]) < 0) {
      close(fd);
      r = lbd_error(ENOMEM, "out of memory");
    }
  }
  /* Committed while we looked?  Ask again now that creators are locked out. */
  uint64_t again = 0;
  if (r == 0 && (locked_ids.len || absent.len))
    r = referenced_files(bp, &refs, &unsynced, &again);
  for (size_t i = 0; r == 0 && i < absent.len; i++) {
    if (!really_missing(bp, absent.ptr[i], &refs))
      continue;
    if (!contains(&unsynced, absent.ptr[i])) {
      report->missing++;
      continue;
    }
    /* An empty head a power loss took: make it again. */
    int fd = repair ? local_file_recreate(bp, absent.ptr[i]) : -1;
    if (fd >= 0)
      close(fd);
    else if (repair)
      lbd_error_clear(); /* the next op on the object makes it */
  }
  for (size_t i = 0; r == 0 && i < locked_ids.len; i++) {
    if (contains(&refs, locked_ids.ptr[i]))
      continue;
    report->orphans++;
    if (repair)
      local_file_unlink(bp, locked_ids.ptr[i]);
  }
  for (size_t i = 0; i < locked_fds.len; i++)
    close((int)locked_fds.ptr[i]);
out:
  free(absent.ptr);
  free(unsynced.ptr);
  free(refs.ptr);
  free(present.ptr);
  free(locked_fds.ptr);
  free(locked_ids.ptr);
  return r;
}
