/* Config-key commands, as Ceph's `ceph config-key`: set, get, rm, ls.
 * Values may be secrets: only `get` ever prints one, and no message names
 * a value. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

#define MAX_VALUE (64 * 1024)

static const char *need_key(struct ctx *c)
{
  const char *key = args_next(c);
  if (!key)
    cli_usage(c, "config key was not specified; see 'lbd help %s'",
              c->cmd->name);
  return key;
}

/* Read all of PATH ('-': stdin), up to MAX_VALUE bytes, into *BUF. */
static int read_input(struct ctx *c, const char *path, char **buf, size_t *len)
{
  int fd = strcmp(path, "-") == 0 ? STDIN_FILENO
                                  : open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return cli_syserr(c, -errno, "reading %s", path);
  size_t cap = 4096, n = 0;
  char *p = malloc(cap);
  int r = p ? 0 : cli_syserr(c, -ENOMEM, "reading %s", path);
  while (r == 0) {
    if (n == cap) {
      char *q = cap > MAX_VALUE ? NULL : realloc(p, cap * 2);
      if (!q) {
        r = cap > MAX_VALUE ? cli_usage(c, "%s holds more than %d bytes: "
                                        "too large for a config value",
                                        path, MAX_VALUE)
                            : cli_syserr(c, -ENOMEM, "reading %s", path);
        break;
      }
      p = q;
      cap *= 2;
    }
    ssize_t got = read(fd, p + n, cap - n);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      r = cli_syserr(c, -errno, "reading %s", path);
    else if (got == 0)
      break;
    else
      n += (size_t)got;
  }
  if (fd != STDIN_FILENO)
    close(fd);
  if (r < 0) {
    free(p);
    return r;
  }
  *buf = p;
  *len = n;
  return 0;
}

int cmd_config_key_set(struct ctx *c)
{
  const char *key = need_key(c), *value = NULL;
  char *input = NULL;
  size_t len = 0;
  int r;
  if (!key)
    return -EINVAL;
  if (opt_set(c, OPT_INPUT_FILE)) {
    if (c->next_pos < c->npos)
      return cli_usage(c, "give the value or --input-file, not both");
    if ((r = read_input(c, c->val[OPT_INPUT_FILE], &input, &len)) < 0)
      return r;
    value = input;
  } else if ((value = args_next(c))) {
    len = strlen(value);
  } else {
    return cli_usage(c, "config value was not specified: give it, or "
                     "-i FILE ('-' for stdin)");
  }
  if ((r = args_done(c)) == 0 && (r = cli_cluster(c)) == 0 &&
      (r = lbd_config_key_set(c->cluster, key, value, len)) < 0)
    cli_fail(c, r, NULL);
  free(input);
  return r;
}

static int write_all(int fd, const char *buf, size_t len)
{
  while (len) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

int cmd_config_key_get(struct ctx *c)
{
  const char *key = need_key(c);
  int r;
  if (!key)
    return -EINVAL;
  if ((r = args_done(c)) < 0 || (r = cli_cluster(c)) < 0)
    return r;
  char *value;
  size_t len;
  if ((r = lbd_config_key_get(c->cluster, key, &value, &len)) < 0)
    return cli_fail(c, r, NULL);
  const char *out = c->val[OPT_OUTPUT_FILE];
  if (out && strcmp(out, "-") != 0) {
    /* the value may be a secret: a new file readable by its owner only
     * (never an existing one, whose mode may show it to others) */
    int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      r = cli_syserr(c, -errno, "writing %s", out);
    } else {
      if ((r = write_all(fd, value, len)) == 0 && close(fd) < 0)
        r = -errno;
      else if (r < 0)
        close(fd);
      if (r < 0)
        cli_syserr(c, r, "writing %s", out);
    }
  } else {
    /* as ceph: the value exactly as stored, without a newline added */
    fflush(stdout);
    if ((r = write_all(STDOUT_FILENO, value, len)) < 0)
      cli_syserr(c, r, "writing output");
  }
  free(value);
  return r;
}

int cmd_config_key_rm(struct ctx *c)
{
  const char *key = need_key(c);
  int r;
  if (!key)
    return -EINVAL;
  if ((r = args_done(c)) == 0 && (r = cli_cluster(c)) == 0 &&
      (r = lbd_config_key_remove(c->cluster, key)) < 0)
    cli_fail(c, r, NULL);
  return r;
}

int cmd_config_key_ls(struct ctx *c)
{
  int r;
  if ((r = args_done(c)) < 0 || (r = cli_cluster(c)) < 0)
    return r;
  char **keys;
  size_t n;
  if ((r = lbd_config_key_list(c->cluster, &keys, &n)) < 0)
    return cli_fail(c, r, NULL);
  if (c->json) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
      json_array_append_new(a, json_string(keys[i]));
    r = json_print(c, a);
  } else {
    for (size_t i = 0; i < n; i++)
      printf("%s\n", keys[i]);
  }
  lbd_names_free(keys, n);
  return r;
}
