/* Pool check: metadata and data files must agree.  A crash between a
 * data file's creation and its commit, or between a commit and the unlink
 * of the file it replaced, leaves an orphan; repair removes it.  A file
 * still being created is locked by its creator and left alone. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* Every data file id that a record names, sorted. */
static int referenced_files(struct objstore_backend_pool *bp,
                            struct u64_vec *ids, uint64_t *objects)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  ids->len = 0;
  int r = kvenv_begin(bp->kv, false, &txn);
  if (r < 0)
    return r;
  int rc = mdb_cursor_open(txn, bp->kv->dbi[LDB_OBJ], &cur);
  MDB_val k, v;
  for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    struct local_record rec;
    if ((r = local_record_decode(v.mv_data, v.mv_size, &rec)) < 0)
      break;
    if (rec.head_exists) {
      r = u64_vec_push(ids, rec.head_file);
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
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  if (r == 0 && rc != MDB_NOTFOUND)
    r = kvenv_error(rc, "reading object records");
  if (r == 0 && ids->len > 1)
    qsort(ids->ptr, ids->len, sizeof *ids->ptr, cmp_u64);
  return r;
}

/* Every data file present, as ids. */
static int present_files(struct objstore_backend_pool *bp, struct u64_vec *ids)
{
  int fd = dup(bp->data_fd);
  DIR *top = fd >= 0 ? fdopendir(fd) : NULL;
  if (!top) {
    if (fd >= 0)
      close(fd);
    return lbd_error(errno, "reading %s/data: %s", bp->path, strerror(errno));
  }
  rewinddir(top);
  struct dirent *a;
  int r = 0;
  while (r == 0 && (a = readdir(top))) {
    if (a->d_name[0] == '.')
      continue;
    int afd = openat(bp->data_fd, a->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *mid = afd >= 0 ? fdopendir(afd) : NULL;
    struct dirent *b;
    while (mid && r == 0 && (b = readdir(mid))) {
      if (b->d_name[0] == '.')
        continue;
      int bfd = openat(afd, b->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      DIR *leaf = bfd >= 0 ? fdopendir(bfd) : NULL;
      struct dirent *c;
      while (leaf && r == 0 && (c = readdir(leaf))) {
        char *end;
        uint64_t id = strtoull(c->d_name, &end, 16);
        if (c->d_name[0] != '.' && *end == '\0' &&
            u64_vec_push(ids, id) < 0)
          r = lbd_error(ENOMEM, "out of memory");
      }
      if (leaf)
        closedir(leaf);
      else if (bfd >= 0)
        close(bfd);
    }
    if (mid)
      closedir(mid);
    else if (afd >= 0)
      close(afd);
  }
  closedir(top);
  return r;
}

int local_check(struct objstore_backend_pool *bp, bool repair,
                struct objstore_check_report *report)
{
  struct u64_vec refs = {0}, present = {0}, locked_fds = {0}, locked_ids = {0};
  int r = kvenv_refresh(bp->kv);
  if (r == 0)
    r = referenced_files(bp, &refs, &report->objects);
  if (r == 0)
    r = present_files(bp, &present);
  if (r < 0)
    goto out;
  if (present.len > 1)
    qsort(present.ptr, present.len, sizeof *present.ptr, cmp_u64);
  for (size_t i = 0; i < refs.len; i++)
    if (!contains(&present, refs.ptr[i]))
      report->missing++;
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
  if (r == 0 && locked_ids.len)
    r = referenced_files(bp, &refs, &again);
  for (size_t i = 0; r == 0 && i < locked_ids.len; i++) {
    if (contains(&refs, locked_ids.ptr[i]))
      continue;
    report->orphans++;
    if (repair)
      local_file_unlink(bp, locked_ids.ptr[i]);
  }
  for (size_t i = 0; i < locked_fds.len; i++)
    close((int)locked_fds.ptr[i]);
  if (r == 0 && report->missing)
    r = 0; /* reported, not an error of the check itself */
out:
  free(refs.ptr);
  free(present.ptr);
  free(locked_fds.ptr);
  free(locked_ids.ptr);
  return r;
}
