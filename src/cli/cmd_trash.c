/* Trash commands, as rbd's: trash mv, ls, restore, rm, purge. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

#define ID_SPEC_FORM "[<pool>/[<namespace>/]]<image-id>"

/* A date for --expires-at / --expired-before: "now", "@SECONDS", or
 * "YYYY-MM-DD[( |T)HH:MM[:SS]]" in local time. */
static int parse_date(struct ctx *c, enum opt_id id, int64_t *out)
{
  const char *text = c->val[id];
  if (strcmp(text, "now") == 0) {
    *out = (int64_t)time(NULL);
    return 0;
  }
  if (text[0] == '@') {
    uint64_t v;
    if (parse_u64(text + 1, &v) == 0 && v <= (uint64_t)INT64_MAX / 2) {
      *out = (int64_t)v;
      return 0;
    }
  } else {
    static const char *const forms[] = {"%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
                                        "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
                                        "%Y-%m-%d"};
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
      struct tm tm;
      memset(&tm, 0, sizeof tm);
      const char *end = strptime(text, forms[i], &tm);
      if (!end || *end)
        continue;
      tm.tm_isdst = -1;
      time_t t = mktime(&tm);
      if (t == (time_t)-1)
        break;
      *out = (int64_t)t;
      return 0;
    }
  }
  return cli_usage(c, "invalid --%s '%s': give YYYY-MM-DD[ HH:MM[:SS]] "
                   "(local time), @SECONDS since the epoch, or now",
                   cli_opts[id].name, text);
}

/* As ctime(3) without the newline: "Mon Jan  1 00:00:00 2024". */
static const char *fmt_ctime(int64_t t, char *buf, size_t size)
{
  time_t tt = (time_t)t;
  struct tm tm;
  if (!localtime_r(&tt, &tm) ||
      !strftime(buf, size, "%a %b %e %H:%M:%S %Y", &tm))
    snprintf(buf, size, "%" PRId64, t);
  return buf;
}

int cmd_trash_mv(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  uint64_t delay = 0;
  int r = spec_image(c, SPEC_SOURCE, false, &s);
  if (r < 0)
    return r;
  if (opt_set(c, OPT_EXPIRES_AT) && opt_set(c, OPT_DELAY))
    r = cli_usage(c, "give --expires-at or --delay, not both");
  else if (opt_set(c, OPT_DELAY))
    r = opt_u64(c, OPT_DELAY, &delay);
  else if (opt_set(c, OPT_EXPIRES_AT)) {
    int64_t at, now = (int64_t)time(NULL);
    if ((r = parse_date(c, OPT_EXPIRES_AT, &at)) == 0) {
      if (at < now && strcmp(c->val[OPT_EXPIRES_AT], "now") != 0)
        r = cli_usage(c, "cannot use a date in the past (%s) as an "
                      "expiration date", c->val[OPT_EXPIRES_AT]);
      else
        delay = at > now ? (uint64_t)(at - now) : 0;
    }
  }
  if (r == 0 && (r = args_done(c)) == 0 &&
      (r = cli_ioctx(c, s.pool, s.ns, &io)) == 0) {
    if ((r = lbd_trash_move(io, s.image, delay)) < 0)
      cli_fail(c, r, NULL);
    lbd_ioctx_destroy(io);
  }
  spec_free(&s);
  return r;
}

static const char *source_upper(enum lbd_trash_source source)
{
  return source == LBD_TRASH_SOURCE_MIGRATION ? "MIGRATION" : "USER";
}

static void status_str(int64_t end, int64_t now, char *buf, size_t size)
{
  char t[64];
  snprintf(buf, size, "%s %s", now < end ? "protected until" : "expired at",
           fmt_ctime(end, t, sizeof t));
}

int cmd_trash_ls(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  struct lbd_trash_info *e;
  size_t n;
  int r = spec_pool(c, false, &s);
  if (r < 0)
    return r;
  if ((r = args_done(c)) < 0 || (r = cli_ioctx(c, s.pool, s.ns, &io)) < 0) {
    spec_free(&s);
    return r;
  }
  r = lbd_trash_list(io, opt_set(c, OPT_ALL), &e, &n);
  lbd_ioctx_destroy(io);
  spec_free(&s);
  if (r < 0)
    return cli_fail(c, r, NULL);
  bool lng = opt_set(c, OPT_LONG);
  int64_t now = (int64_t)time(NULL);
  json_t *arr = c->json ? json_array() : NULL;
  static const char *const heads[] = {"ID", "NAME", "SOURCE", "DELETED_AT",
                                      "STATUS"};
  static const bool right[] = {false, false, false, false, false};
  struct table t;
  table_init(&t, 5, heads, right);
  for (size_t i = 0; i < n; i++) {
    char deleted[64], status[96];
    fmt_ctime(e[i].deletion_time, deleted, sizeof deleted);
    status_str(e[i].deferment_end_time, now, status, sizeof status);
    if (arr && !lng) {
      json_array_append_new(arr, json_pack("{s:s, s:s}", "id", e[i].id,
                                           "name", e[i].name));
    } else if (arr) {
      json_array_append_new(
          arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "id", e[i].id,
                         "name", e[i].name, "source",
                         source_upper(e[i].source), "deleted_at", deleted,
                         "status", status, "deletion_time",
                         (json_int_t)e[i].deletion_time, "deferment_end_time",
                         (json_int_t)e[i].deferment_end_time));
    } else if (!lng) {
      printf("%s %s\n", e[i].id, e[i].name);
    } else if (table_row(&t, e[i].id, e[i].name, source_upper(e[i].source),
                         deleted, status) < 0) {
      r = cli_fail(c, -ENOMEM, "listing the trash");
    }
  }
  if (arr)
    r = json_print(c, arr);
  else if (lng && n && r == 0)
    table_print(&t, stdout);
  table_free(&t);
  lbd_trash_list_free(e, n);
  return r;
}

/* "[pool/[namespace/]]image-id" from the next positional, with --pool and
 * --namespace as defaults. */
static int id_spec(struct ctx *c, struct spec *s)
{
  memset(s, 0, sizeof *s);
  const char *text = args_next(c);
  if (!text)
    return cli_usage(c, "image id was not specified; give it as "
                     ID_SPEC_FORM " (see 'lbd trash ls')");
  if (!(s->buf = strdup(text)))
    return cli_usage(c, "out of memory");
  char *parts[3];
  int n = 0;
  for (char *p = s->buf; p;) {
    if (n == 3)
      goto bad;
    parts[n++] = p;
    char *slash = strchr(p, '/');
    if (slash)
      *slash++ = '\0';
    p = slash;
  }
  for (int i = 0; i < n; i++)
    if (!*parts[i] || strchr(parts[i], '@'))
      goto bad;
  s->image = parts[n - 1];
  s->pool = n >= 2 ? parts[0] : c->val[OPT_POOL];
  s->ns = n == 3 ? parts[1] : c->val[OPT_NAMESPACE];
  if (!s->pool)
    s->pool = CLI_DEFAULT_POOL;
  if (!s->ns)
    s->ns = "";
  if (!*s->pool || strpbrk(s->pool, "/@") || strpbrk(s->ns, "/@")) {
    spec_free(s);
    return cli_usage(c, "invalid pool or namespace name in '%s'", text);
  }
  return 0;
bad:
  spec_free(s);
  return cli_usage(c, "invalid image id spec '%s': the form is " ID_SPEC_FORM,
                   text);
}

int cmd_trash_restore(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  int r = id_spec(c, &s);
  if (r < 0)
    return r;
  const char *name = c->val[OPT_IMAGE];
  if (name && (!*name || strpbrk(name, "/@")))
    r = cli_usage(c, "invalid --image '%s': an image name is non-empty "
                  "without '/' or '@'", name);
  if (r == 0 && (r = args_done(c)) == 0 &&
      (r = cli_ioctx(c, s.pool, s.ns, &io)) == 0) {
    if ((r = lbd_trash_restore(io, s.image, name)) < 0)
      cli_fail(c, r, NULL);
    lbd_ioctx_destroy(io);
  }
  spec_free(&s);
  return r;
}

int cmd_trash_rm(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  int r = id_spec(c, &s);
  if (r < 0)
    return r;
  if ((r = args_done(c)) == 0 && (r = cli_ioctx(c, s.pool, s.ns, &io)) == 0) {
    struct progress p;
    progress_init(&p, c, "Removing image");
    if ((r = lbd_trash_remove(io, s.image, opt_set(c, OPT_FORCE))) < 0) {
      progress_fail(&p);
      cli_fail(c, r, NULL);
    } else {
      progress_finish(&p);
    }
    lbd_ioctx_destroy(io);
  }
  spec_free(&s);
  return r;
}

int cmd_trash_purge(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  int64_t before = 0;
  int r = spec_pool(c, false, &s);
  if (r < 0)
    return r;
  if (opt_set(c, OPT_EXPIRED_BEFORE))
    r = parse_date(c, OPT_EXPIRED_BEFORE, &before);
  if (r == 0 && (r = args_done(c)) == 0 &&
      (r = cli_ioctx(c, s.pool, s.ns, &io)) == 0) {
    struct progress p;
    size_t removed;
    progress_init(&p, c, "Removing images");
    if ((r = lbd_trash_purge(io, before, &removed)) < 0) {
      progress_fail(&p);
      cli_fail(c, r, NULL);
    } else {
      progress_finish(&p);
    }
    lbd_ioctx_destroy(io);
  }
  spec_free(&s);
  return r;
}
