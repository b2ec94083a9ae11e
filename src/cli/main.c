/* lbd: the command-line tool for lbd images, after Ceph's rbd.
 * Parses the command line, opens the cluster when a command needs it, runs
 * the command and exits with 0 or the errno of the failure. */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* --cluster-dir, else $LBD_CLUSTER, else /var/lib/lbd as root, else
 * ~/.local/share/lbd. */
static int find_cluster_dir(struct ctx *c)
{
  const char *dir = c->val[OPT_CLUSTER_DIR];
  if (dir && !*dir)
    return cli_usage(c, "--cluster-dir is empty: give a directory");
  if (!dir && (dir = getenv("LBD_CLUSTER")) && !*dir)
    dir = NULL;
  if (dir) {
    snprintf(c->cluster_dir, sizeof c->cluster_dir, "%s", dir);
  } else if (geteuid() == 0) {
    snprintf(c->cluster_dir, sizeof c->cluster_dir, "/var/lib/lbd");
  } else {
    const char *home = getenv("HOME");
    struct passwd *pw;
    if ((!home || !*home) && (pw = getpwuid(getuid())))
      home = pw->pw_dir;
    if (!home || !*home)
      return cli_usage(c, "no home directory to keep the cluster in: give "
                       "--cluster-dir or set LBD_CLUSTER");
    snprintf(c->cluster_dir, sizeof c->cluster_dir, "%s/.local/share/lbd",
             home);
  }
  return 0;
}

int cli_cluster(struct ctx *c)
{
  int r;
  if (c->cluster)
    return 0;
  if ((r = find_cluster_dir(c)) < 0)
    return r;
  if ((r = lbd_cluster_open(c->cluster_dir, true, &c->cluster)) < 0)
    return cli_fail(c, r, "opening cluster %s", c->cluster_dir);
  return 0;
}

int cli_ioctx(struct ctx *c, const char *pool, const char *ns,
              lbd_ioctx_t **io)
{
  int r = cli_cluster(c);
  if (r < 0)
    return r;
  r = lbd_ioctx_create(c->cluster, pool, ns, io);
  if (r == -ENOENT && strstr(lbd_last_error(), "no such pool")) {
    cli_usage(c, "%s (see 'lbd pool ls'; create it with 'lbd pool create "
              "%s')", lbd_last_error(), pool);
    return r;
  }
  return r < 0 ? cli_fail(c, r, NULL) : 0;
}

int cli_open(struct ctx *c, const struct spec *s, bool rw, lbd_ioctx_t **io,
             lbd_image_t **img)
{
  int r = cli_ioctx(c, s->pool, s->ns, io);
  if (r < 0)
    return r;
  r = lbd_open(*io, s->image, s->snap, rw ? 0 : LBD_OPEN_READ_ONLY, img);
  if (r < 0) {
    cli_fail(c, r, NULL);
    lbd_ioctx_destroy(*io);
    *io = NULL;
  }
  return r;
}

int cli_close(struct ctx *c, lbd_ioctx_t *io, lbd_image_t *img)
{
  int r = img ? lbd_close(img) : 0;
  if (r < 0)
    cli_fail(c, r, "closing image");
  lbd_ioctx_destroy(io);
  return r;
}

static int check_format(struct ctx *c)
{
  const char *f = c->val[OPT_FORMAT];
  if (f && strcmp(f, "json") == 0)
    c->json = true;
  else if (f && strcmp(f, "plain") != 0)
    return cli_usage(c, "invalid --format '%s': give plain or json", f);
  c->pretty = opt_set(c, OPT_PRETTY);
  if (c->pretty && !c->json)
    return cli_usage(c, "--pretty-format only works when --format is json");
  return 0;
}

static int run(struct ctx *c, int argc, char **argv)
{
  int r = args_parse(c, argc, argv);
  if (r < 0)
    return r;
  if (!c->cmd) {
    if (c->npos > 0) { /* "lbd pool --help" */
      help_group(stdout, c->pos[0]);
      return 0;
    }
    if (!opt_set(c, OPT_HELP))
      return cli_usage(c, "no command given; see 'lbd help' for the "
                       "commands");
    help_general(stdout);
    return 0;
  }
  if (opt_set(c, OPT_HELP)) {
    help_command(stdout, c->cmd);
    return 0;
  }
  if ((r = check_format(c)) < 0)
    return r;
  return c->cmd->run(c);
}

int main(int argc, char **argv)
{
  struct ctx c;
  memset(&c, 0, sizeof c);
  int r = run(&c, argc, argv);
  if (fflush(stdout) != 0 && r == 0)
    r = cli_fail(&c, -errno, "writing output");
  lbd_cluster_close(c.cluster);
  free(c.features);
  free(c.pos);
  if (r == 0)
    return 0;
  return -r > 0 && -r < 256 ? -r : 1;
}
