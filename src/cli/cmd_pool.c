/* Pool and namespace commands. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* The pool named by --pool or the next positional (DEFLT if neither). */
static int pool_arg(struct ctx *c, const char *deflt, const char **name)
{
  *name = c->val[OPT_POOL];
  if (!*name)
    *name = args_next(c);
  if (!*name)
    *name = deflt;
  if (!*name)
    return cli_usage(c, "pool name was not specified; see 'lbd help %s'",
                     c->cmd->name);
  return args_done(c);
}

int cmd_pool_create(struct ctx *c)
{
  const char *name;
  int r = pool_arg(c, NULL, &name);
  if (r < 0 || (r = cli_cluster(c)) < 0)
    return r;
  const char *dir = c->val[OPT_POOL_PATH];
  const char *backend = c->val[OPT_BACKEND] ? c->val[OPT_BACKEND] : "local";
  const char *conf = c->val[OPT_CEPH_CONF], *rpool = c->val[OPT_RADOS_POOL];
  if (dir && !*dir)
    return cli_usage(c, "--path is empty: give a directory");
  if (strcmp(backend, "rados") == 0) {
    if (dir)
      return cli_usage(c, "--path is for local pools, not --backend rados");
    r = lbd_pool_create_rados(c->cluster, name, conf, rpool);
  } else if (strcmp(backend, "local") == 0) {
    if (conf || rpool)
      return cli_usage(c, "--ceph-conf and --rados-pool need --backend "
                       "rados");
    r = lbd_pool_create(c->cluster, name, dir);
  } else {
    return cli_usage(c, "unknown backend \"%s\": local or rados", backend);
  }
  if (r < 0)
    return cli_fail(c, r, NULL);
  return 0;
}

int cmd_pool_ls(struct ctx *c)
{
  struct lbd_pool_info *pools;
  size_t n;
  int r = args_done(c);
  if (r < 0 || (r = cli_cluster(c)) < 0)
    return r;
  if ((r = lbd_pool_list(c->cluster, &pools, &n)) < 0)
    return cli_fail(c, r, "listing pools");
  bool lng = opt_set(c, OPT_LONG);
  static const char *const heads[] = {"ID", "NAME", "PATH"};
  static const bool right[] = {true, false, false};
  struct table t;
  table_init(&t, 3, heads, right);
  json_t *arr = c->json ? json_array() : NULL;
  for (size_t i = 0; i < n; i++) {
    const char *path = pools[i].path ? pools[i].path : "";
    char id[32];
    snprintf(id, sizeof id, "%" PRId64, pools[i].id);
    if (arr && lng)
      json_array_append_new(arr, json_pack("{s:I, s:s, s:s}", "id",
                                           (json_int_t)pools[i].id, "name",
                                           pools[i].name, "path", path));
    else if (arr)
      json_array_append_new(arr, json_string(pools[i].name));
    else if (lng)
      table_row(&t, id, pools[i].name, path);
    else
      printf("%s\n", pools[i].name);
  }
  if (arr)
    r = json_print(c, arr);
  else if (t.nrows)
    table_print(&t, stdout);
  table_free(&t);
  lbd_pool_list_free(pools, n);
  return r;
}

/* How many images POOL holds, in every namespace; *EXAMPLE one of them. */
static int count_images(struct ctx *c, const char *pool, size_t *count,
                        char *example, size_t size)
{
  lbd_ioctx_t *io;
  char **nss = NULL, **names;
  size_t nns = 0, n;
  int r = cli_ioctx(c, pool, "", &io);
  if (r < 0)
    return r;
  *count = 0;
  if ((r = lbd_namespace_list(io, &nss, &nns)) < 0)
    cli_fail(c, r, "listing namespaces of pool %s", pool);
  for (size_t i = 0; r == 0 && i <= nns; i++) {
    lbd_ioctx_t *nsio = io;
    const char *ns = i < nns ? nss[i] : "";
    if (*ns && (r = cli_ioctx(c, pool, ns, &nsio)) < 0)
      break;
    if ((r = lbd_list(nsio, &names, &n)) < 0) {
      cli_fail(c, r, "listing images of %s%s%s", pool, *ns ? "/" : "", ns);
    } else {
      if (n && !*count)
        snprintf(example, size, "%s%s%s", ns, *ns ? "/" : "", names[0]);
      *count += n;
      lbd_names_free(names, n);
    }
    if (nsio != io)
      lbd_ioctx_destroy(nsio);
  }
  lbd_names_free(nss, nns);
  lbd_ioctx_destroy(io);
  return r;
}

int cmd_pool_rm(struct ctx *c)
{
  const char *name;
  size_t count;
  char example[600];
  int r = pool_arg(c, NULL, &name);
  if (r < 0 || (r = count_images(c, name, &count, example, sizeof example)))
    return r;
  if (count && !opt_set(c, OPT_FORCE)) {
    cli_usage(c, "pool %s holds %zu image(s), e.g. %s: remove them first, "
              "or give --force to remove the pool with every image in it",
              name, count, example);
    return -EBUSY;
  }
  if ((r = lbd_pool_remove(c->cluster, name)) < 0)
    return cli_fail(c, r, NULL);
  return 0;
}

int cmd_pool_init(struct ctx *c)
{
  const char *name;
  lbd_ioctx_t *io;
  int r = pool_arg(c, CLI_DEFAULT_POOL, &name);
  if (r < 0 || (r = cli_ioctx(c, name, "", &io)) < 0)
    return r;
  if ((r = lbd_pool_init(io)) < 0)
    cli_fail(c, r, "initializing pool %s", name);
  lbd_ioctx_destroy(io);
  return r;
}

/* An IO context on the pool of a namespace command, and the namespace. */
static int ns_ioctx(struct ctx *c, bool need_ns, struct spec *s,
                    lbd_ioctx_t **io)
{
  int r = spec_pool(c, need_ns, s);
  if (r < 0)
    return r;
  if (!need_ns && *s->ns)
    r = cli_usage(c, "'lbd %s' takes a pool, not a namespace (%s)",
                  c->cmd->name, s->ns);
  if (r == 0)
    r = args_done(c);
  if (r == 0)
    r = cli_ioctx(c, s->pool, "", io);
  if (r < 0)
    spec_free(s);
  return r;
}

int cmd_namespace_create(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  int r = ns_ioctx(c, true, &s, &io);
  if (r < 0)
    return r;
  if ((r = lbd_namespace_create(io, s.ns)) < 0)
    cli_fail(c, r, NULL);
  lbd_ioctx_destroy(io);
  spec_free(&s);
  return r;
}

int cmd_namespace_rm(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  int r = ns_ioctx(c, true, &s, &io);
  if (r < 0)
    return r;
  if ((r = lbd_namespace_remove(io, s.ns)) < 0)
    cli_fail(c, r, NULL);
  lbd_ioctx_destroy(io);
  spec_free(&s);
  return r;
}

static int by_name(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmd_namespace_ls(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  char **names;
  size_t n;
  int r = ns_ioctx(c, false, &s, &io);
  if (r < 0)
    return r;
  spec_free(&s);
  r = lbd_namespace_list(io, &names, &n);
  lbd_ioctx_destroy(io);
  if (r < 0)
    return cli_fail(c, r, "listing namespaces");
  if (n)
    qsort(names, n, sizeof *names, by_name);
  static const char *const heads[] = {"NAME"};
  static const bool right[] = {false};
  struct table t;
  table_init(&t, 1, heads, right);
  json_t *arr = c->json ? json_array() : NULL;
  for (size_t i = 0; i < n; i++) {
    if (arr)
      json_array_append_new(arr, json_pack("{s:s}", "name", names[i]));
    else
      table_row(&t, names[i]);
  }
  if (arr)
    r = json_print(c, arr);
  else if (t.nrows)
    table_print(&t, stdout);
  table_free(&t);
  lbd_names_free(names, n);
  return r;
}
