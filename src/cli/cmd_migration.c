/* lbd migration prepare | execute | commit | abort, and the Migration block
 * of lbd status. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

/* The source-spec text of --source-spec, --source-spec-path/-file (a file
 * or '-' for stdin), malloc'd into *OUT. */
static int read_source_spec(struct ctx *c, char **out)
{
  *out = NULL;
  if (opt_set(c, OPT_SOURCE_SPEC) + opt_set(c, OPT_SOURCE_SPEC_PATH) +
          opt_set(c, OPT_SOURCE_SPEC_FILE) > 1)
    return cli_usage(c, "give --source-spec or --source-spec-path, not both");
  if (opt_set(c, OPT_SOURCE_SPEC))
    return (*out = strdup(c->val[OPT_SOURCE_SPEC])) ? 0 : -ENOMEM;
  const char *path = opt_set(c, OPT_SOURCE_SPEC_PATH)
                         ? c->val[OPT_SOURCE_SPEC_PATH]
                         : c->val[OPT_SOURCE_SPEC_FILE];
  if (!path)
    return 0;
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (!f)
    return cli_syserr(c, -errno, "reading the source-spec %s", path);
  size_t cap = 1 << 20, n = 0;
  char *buf = malloc(cap + 1);
  if (buf)
    n = fread(buf, 1, cap, f);
  int r = !buf ? -ENOMEM : ferror(f) ? -EIO : n == cap ? -EFBIG : 0;
  if (f != stdin)
    fclose(f);
  if (r < 0) {
    free(buf);
    return r == -EFBIG ? cli_usage(c, "the source-spec %s is over 1 MiB", path)
                       : cli_syserr(c, r, "reading the source-spec %s", path);
  }
  buf[n] = 0;
  *out = buf;
  return 0;
}

/* The native source-spec of pool/[ns/]image@snap (the short form). */
static char *native_spec(const struct spec *s)
{
  json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "native",
                        "pool_name", s->pool, "pool_namespace", s->ns,
                        "image_name", s->image, "snap_name", s->snap);
  char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  return text;
}

static int prepare_import(struct ctx *c)
{
  char *spec = NULL;
  struct spec src = {0}, dst;
  struct lbd_image_options o;
  lbd_ioctx_t *io = NULL;
  int r = read_source_spec(c, &spec);
  if (r == 0 && !spec) { /* the short form: pool/image@snap dst */
    if ((r = spec_image(c, SPEC_SOURCE, true, &src)) == 0 && !src.snap)
      r = cli_usage(c, "an import of an lbd image reads a snapshot: give "
                    "<pool>/<image>@<snap>, or a --source-spec");
    if (r == 0 && !(spec = native_spec(&src)))
      r = -ENOMEM;
  }
  if (r < 0) {
    if (src.buf)
      spec_free(&src);
    free(spec);
    return r;
  }
  if ((r = spec_image(c, SPEC_DEST, false, &dst)) == 0) {
    if ((r = image_options(c, false, &o)) == 0 && (r = args_done(c)) == 0 &&
        (r = cli_ioctx(c, dst.pool, dst.ns, &io)) == 0 &&
        (r = lbd_migration_prepare_import(spec, io, dst.image, &o)) < 0)
      cli_fail(c, r, NULL);
    lbd_ioctx_destroy(io);
    spec_free(&dst);
  }
  if (src.buf)
    spec_free(&src);
  free(spec);
  return r;
}

int cmd_migration_prepare(struct ctx *c)
{
  if (opt_set(c, OPT_IMPORT_ONLY))
    return prepare_import(c);
  if (opt_set(c, OPT_SOURCE_SPEC) || opt_set(c, OPT_SOURCE_SPEC_PATH) ||
      opt_set(c, OPT_SOURCE_SPEC_FILE))
    return cli_usage(c, "a source-spec is for --import-only");
  struct spec src, dst;
  struct lbd_image_options o;
  lbd_ioctx_t *io = NULL, *dst_io = NULL;
  int r = spec_image(c, SPEC_SOURCE, false, &src);
  if (r < 0)
    return r;
  bool named = opt_set(c, OPT_DEST) || c->next_pos < c->npos;
  bool pooled = c->next_pos < c->npos && strchr(c->pos[c->next_pos], '/');
  /* the target's pool and namespace default to the source's (a target
   * spec naming a pool means its default namespace, as rbd), and without
   * a target the image keeps its name */
  if (!opt_set(c, OPT_DEST_POOL))
    c->val[OPT_DEST_POOL] = src.pool;
  if (!opt_set(c, OPT_DEST_NAMESPACE) && !pooled)
    c->val[OPT_DEST_NAMESPACE] = src.ns;
  if (!named)
    c->val[OPT_DEST] = src.image;
  if ((r = spec_image(c, SPEC_DEST, false, &dst)) < 0) {
    spec_free(&src);
    return r;
  }
  if ((r = image_options(c, false, &o)) == 0 && (r = args_done(c)) == 0 &&
      (r = cli_ioctx(c, src.pool, src.ns, &io)) == 0 &&
      (r = cli_ioctx(c, dst.pool, dst.ns, &dst_io)) == 0 &&
      (r = lbd_migration_prepare(io, src.image, dst_io, dst.image, &o,
                                 opt_set(c, OPT_FLATTEN))) < 0)
    cli_fail(c, r, NULL);
  lbd_ioctx_destroy(dst_io);
  lbd_ioctx_destroy(io);
  spec_free(&src);
  spec_free(&dst);
  return r;
}

static int step_progress(uint64_t done, uint64_t total, void *arg)
{
  progress_update(arg, done, total);
  return cli_interrupted != 0;
}

typedef int (*step_fn)(lbd_ioctx_t *io, const char *image,
                       lbd_progress_fn_t progress, void *arg);

/* One migration step on IMAGE-SPEC with progress as OP. */
static int migration_step(struct ctx *c, const char *op, step_fn fn,
                          unsigned threads)
{
  struct spec s;
  lbd_ioctx_t *io;
  int r = spec_image(c, SPEC_SOURCE, false, &s);
  if (r < 0)
    return r;
  if ((r = args_done(c)) == 0 && (r = cli_ioctx(c, s.pool, s.ns, &io)) == 0) {
    struct progress p;
    cli_catch_signals();
    progress_init(&p, c, op);
    r = fn ? fn(io, s.image, step_progress, &p)
           : lbd_migration_execute(io, s.image, threads, step_progress, &p);
    if (r < 0) {
      progress_fail(&p);
      if (r == -ECANCELED && cli_interrupted)
        cli_usage(c, "interrupted: run it again to go on");
      else
        cli_fail(c, r, NULL);
    } else {
      progress_finish(&p);
    }
    lbd_ioctx_destroy(io);
  }
  spec_free(&s);
  return r;
}

/* --max-rate: the progress callback sleeps while the copy is ahead. */
static struct {
  uint64_t rate, object_size;
  struct timespec start;
} throttle;

static int execute_progress(uint64_t done, uint64_t total, void *arg)
{
  if (throttle.rate) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double elapsed = (double)(now.tv_sec - throttle.start.tv_sec) +
                     (double)(now.tv_nsec - throttle.start.tv_nsec) / 1e9;
    double due = (double)done * (double)throttle.object_size /
                 (double)throttle.rate;
    if (due > elapsed)
      usleep((useconds_t)((due - elapsed) * 1e6));
  }
  return step_progress(done, total, arg);
}

static int execute_step(lbd_ioctx_t *io, const char *image,
                        lbd_progress_fn_t progress, void *arg)
{
  (void)progress;
  return lbd_migration_execute(io, image, throttle.rate ? 1 : 0,
                               execute_progress, arg);
}

/* The object size of IMAGE (for --max-rate): the target's. */
static int object_size_of(struct ctx *c, uint64_t *size)
{
  struct spec s;
  lbd_ioctx_t *io;
  struct lbd_migration_status st;
  struct lbd_image_info info;
  lbd_image_t *img;
  int saved = c->next_pos;
  int r = spec_image(c, SPEC_SOURCE, false, &s);
  c->next_pos = saved;
  if (r < 0)
    return r;
  if ((r = cli_ioctx(c, s.pool, s.ns, &io)) == 0) {
    if ((r = lbd_migration_status(io, s.image, &st)) < 0)
      cli_fail(c, r, NULL);
    lbd_ioctx_destroy(io);
  }
  if (r == 0 && (r = cli_ioctx(c, st.dest_pool, st.dest_ns, &io)) == 0) {
    if ((r = lbd_open(io, st.dest_image, NULL, LBD_OPEN_READ_ONLY, &img)) ==
        0) {
      if ((r = lbd_stat(img, &info)) == 0)
        *size = info.object_size;
      lbd_close(img);
    }
    if (r < 0)
      cli_fail(c, r, NULL);
    lbd_ioctx_destroy(io);
  }
  spec_free(&s);
  return r;
}

int cmd_migration_execute(struct ctx *c)
{
  uint64_t threads = 0;
  if (opt_set(c, OPT_CONCURRENCY) &&
      (opt_u64(c, OPT_CONCURRENCY, &threads) < 0 || threads < 1 ||
       threads > 64))
    return cli_usage(c, "--concurrency takes a number from 1 to 64");
  throttle.rate = 0;
  if (opt_set(c, OPT_MAX_RATE)) {
    int r = opt_size(c, OPT_MAX_RATE, 0, &throttle.rate);
    if (r == 0 && throttle.rate == 0)
      r = cli_usage(c, "--max-rate must be more than 0 bytes/s");
    if (r == 0)
      r = object_size_of(c, &throttle.object_size);
    if (r < 0)
      return r;
    clock_gettime(CLOCK_MONOTONIC, &throttle.start);
    return migration_step(c, "Image migration", execute_step, 0);
  }
  return migration_step(c, "Image migration", NULL, (unsigned)threads);
}

int cmd_migration_verify(struct ctx *c)
{
  return migration_step(c, "Verify image migration", lbd_migration_verify, 0);
}

static unsigned commit_flags;
static bool commit_verify;

static int commit_step(lbd_ioctx_t *io, const char *image,
                       lbd_progress_fn_t progress, void *arg)
{
  int r = commit_verify ? lbd_migration_verify(io, image, progress, arg) : 0;
  return r < 0 ? r : lbd_migration_commit_flags(io, image, commit_flags,
                                                progress, arg);
}

int cmd_migration_commit(struct ctx *c)
{
  commit_flags = opt_set(c, OPT_FORCE) ? LBD_MIGRATION_FORCE : 0;
  commit_verify = opt_set(c, OPT_VERIFY);
  return migration_step(c, "Commit image migration", commit_step, 0);
}

int cmd_migration_abort(struct ctx *c)
{
  return migration_step(c, "Abort image migration", lbd_migration_abort, 0);
}

static void spec_text(const char *pool, const char *ns, const char *image,
                      char *buf, size_t size)
{
  snprintf(buf, size, "%s/%s%s%s", pool, ns, *ns ? "/" : "", image);
}

int migration_status_print(struct ctx *c, lbd_ioctx_t *io, const char *image,
                           json_t *j)
{
  struct lbd_migration_status st;
  int r = lbd_migration_status(io, image, &st);
  if (r == -EINVAL || r == -ENOENT)
    return r; /* not migrating */
  if (r < 0)
    return cli_fail(c, r, "migration status");
  char src[4200], dst[512];
  if (*st.source_spec)
    snprintf(src, sizeof src, "%s", st.source_spec);
  else
    spec_text(st.source_pool, st.source_ns, st.source_image, src,
              sizeof src);
  spec_text(st.dest_pool, st.dest_ns, st.dest_image, dst, sizeof dst);
  if (j) {
    json_object_set_new(
        j, "migration",
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                  "source_pool_name", st.source_pool,
                  "source_pool_namespace", st.source_ns, "source_image_name",
                  st.source_image, "source_image_id", st.source_id,
                  "dest_pool_name", st.dest_pool, "dest_pool_namespace",
                  st.dest_ns, "dest_image_name", st.dest_image,
                  "dest_image_id", st.dest_id, "state", st.state,
                  "state_description", st.state_desc));
    if (*st.source_spec)
      json_object_set_new(json_object_get(j, "migration"), "source_spec",
                          json_string(st.source_spec));
    return 0;
  }
  printf("Migration:\n");
  if (*st.source_spec)
    printf("\tsource: %s\n", src);
  else
    printf("\tsource: %s (%s)\n", src, st.source_id);
  printf("\tdestination: %s (%s)\n", dst, st.dest_id);
  printf("\tstate: %s%s%s\n", st.state, *st.state_desc ? " " : "",
         st.state_desc);
  return 0;
}
