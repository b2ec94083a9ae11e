/* The option table and argv parsing.  Options may come before or after the
 * command and its arguments, as with rbd: "--opt value", "--opt=value",
 * "-p value", "-pvalue"; "--" ends the options; "-" is an argument. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

const struct opt_def cli_opts[OPT_COUNT] = {
    [OPT_CLUSTER_DIR] = {"cluster-dir", 0, "<dir>",
        "cluster directory [default: $LBD_CLUSTER, else\n"
        "/var/lib/lbd as root, else ~/.local/share/lbd]"},
    [OPT_FORMAT] = {"format", 0, "<format>",
        "output format (plain or json) [default: plain]"},
    [OPT_PRETTY] = {"pretty-format", 0, NULL, "pretty formatting (json)"},
    [OPT_NO_PROGRESS] = {"no-progress", 0, NULL, "disable progress output"},
    [OPT_HELP] = {"help", 'h', NULL, "show this help"},
    [OPT_POOL] = {"pool", 'p', "<pool>", "pool name [default: rbd]"},
    [OPT_NAMESPACE] = {"namespace", 0, "<namespace>", "namespace name"},
    [OPT_IMAGE] = {"image", 0, "<image>", "image name"},
    [OPT_SNAP] = {"snap", 0, "<snap>", "snapshot name"},
    [OPT_DEST_POOL] = {"dest-pool", 0, "<pool>", "destination pool name"},
    [OPT_DEST_NAMESPACE] = {"dest-namespace", 0, "<namespace>",
        "destination namespace name"},
    [OPT_DEST] = {"dest", 0, "<image>", "destination image name"},
    [OPT_SIZE] = {"size", 's', "<size>",
        "image size (in M/G/T) [default unit: M]"},
    [OPT_OBJECT_SIZE] = {"object-size", 0, "<size>",
        "object size in B/K/M [4K <= object size <= 32M]\n"
        "[default: 4M]"},
    [OPT_ORDER] = {"order", 0, "<order>",
        "object order: objects of 2^order bytes\n"
        "[12 <= order <= 25]"},
    [OPT_STRIPE_UNIT] = {"stripe-unit", 0, "<size>",
        "stripe unit in B/K/M: a divisor of the object size,\n"
        "at least 512 [default: the object size]"},
    [OPT_STRIPE_COUNT] = {"stripe-count", 0, "<count>",
        "stripe count [1 <= count <= 4096] [default: 1]"},
    [OPT_FEATURE] = {"image-feature", 0, "<feature>",
        "image features, repeatable or comma-separated:\n"
        "layering(+), striping, exclusive-lock(+),\n"
        "deep-flatten(+), data-pool\n"
        "(+) enabled when no feature is given; striping is\n"
        "implied by non-default striping, data-pool by\n"
        "--data-pool; object-map and fast-diff are not\n"
        "supported yet"},
    [OPT_DATA_POOL] = {"data-pool", 0, "<pool>",
        "pool for the image's data objects"},
    [OPT_LONG] = {"long", 'l', NULL, "long listing format"},
    [OPT_ALLOW_SHRINK] = {"allow-shrink", 0, NULL, "permit shrinking"},
    [OPT_PATH] = {"path", 0, "<path>", "file path (or '-' for stdin/stdout)"},
    [OPT_POOL_PATH] = {"path", 0, "<dir>",
        "keep the pool's data in DIR (another disk), made if\n"
        "missing; it must be empty [default: inside the\n"
        "cluster directory]"},
    [OPT_FORCE] = {"force", 0, NULL, "also remove a pool that holds images"},
    [OPT_IO_TYPE] = {"io-type", 0, "<type>", "IO type (read or write)"},
    [OPT_IO_SIZE] = {"io-size", 0, "<size>",
        "IO size (in B/K/M/G/T) [default: 4K]"},
    [OPT_IO_THREADS] = {"io-threads", 0, "<n>",
        "IOs in flight, one thread each [default: 16]"},
    [OPT_IO_TOTAL] = {"io-total", 0, "<size>",
        "total size for IO (in B/K/M/G/T) [default: 1G]"},
    [OPT_IO_PATTERN] = {"io-pattern", 0, "<pattern>",
        "IO pattern (rand or seq) [default: seq]"},
    [OPT_EXPIRES_AT] = {"expires-at", 0, "<expires-at>",
        "set the expiration time of an image so it can be\n"
        "purged when it is stale: YYYY-MM-DD[ HH:MM[:SS]]\n"
        "(local time) or @SECONDS since the epoch\n"
        "[default: now]"},
    [OPT_DELAY] = {"delay", 0, "<seconds>",
        "keep the image from purging for SECONDS\n"
        "(instead of --expires-at)"},
    [OPT_ALL] = {"all", 'a', NULL, "list images from all sources"},
    [OPT_EXPIRED_BEFORE] = {"expired-before", 0, "<date>",
        "purge images that expired before the given date\n"
        "(YYYY-MM-DD[ HH:MM[:SS]] or @SECONDS) [default: now]"},
    [OPT_INPUT_FILE] = {"input-file", 'i', "<file>",
        "read the value from FILE ('-' for stdin)"},
    [OPT_OUTPUT_FILE] = {"output-file", 'o', "<file>",
        "write the value to FILE instead of stdout"},
    [OPT_SHARED] = {"shared", 0, "<tag>",
        "take a shared lock, with this tag (lockers that\n"
        "share the lock give the same tag)"},
    [OPT_LIMIT] = {"limit", 0, "<number>",
        "maximum number of snapshots"},
    [OPT_FROM_SNAP] = {"from-snap", 0, "<from-snap>",
        "snapshot starting point"},
    [OPT_WHOLE_OBJECT] = {"whole-object", 0, NULL, "compare whole object"},
    [OPT_EXPORT_FORMAT] = {"export-format", 0, "<export-format>",
        "format of image file: 1 (raw bytes) or 2 (rbd's\n"
        "format with snapshots) [default: 1]"},
    [OPT_FLATTEN] = {"flatten", 0, NULL,
        "make the target independent of the source's\n"
        "parent (else a clone's target keeps the link)"},
    [OPT_CONCURRENCY] = {"concurrency", 0, "<n>",
        "objects copied at once [default: 8]"},
    [OPT_IMPORT_ONLY] = {"import-only", 0, NULL,
        "only import data from the source (left unchanged)"},
    [OPT_SOURCE_SPEC] = {"source-spec", 0, "<json>",
        "source-spec of the import (JSON)"},
    [OPT_SOURCE_SPEC_PATH] = {"source-spec-path", 0, "<file>",
        "file holding the source-spec ('-' for stdin)"},
    [OPT_SOURCE_SPEC_FILE] = {"source-spec-file", 0, "<file>",
        "the same as --source-spec-path"},
    [OPT_VERIFY] = {"verify", 0, NULL,
        "first check that the target no longer needs its\n"
        "source ('lbd migration verify'); refuse if it does"},
    [OPT_MAX_RATE] = {"max-rate", 0, "<bytes/s>",
        "copy at most this many bytes per second (in K/M/G)"},
    [OPT_THICK_PROVISION] = {"thick-provision", 0, NULL,
        "fully allocate the target's data, zeroes included"},
    [OPT_NBD_SOCKET] = {"socket", 0, "<path>",
        "listen on the Unix socket PATH"},
    [OPT_NBD_BIND] = {"bind", 0, "<address>",
        "listen on this TCP address [default: 127.0.0.1]"},
    [OPT_NBD_PORT] = {"port", 0, "<port>",
        "listen on this TCP port (0: any free one, printed)"},
    [OPT_READ_ONLY] = {"read-only", 0, NULL,
        "serve read-only (writes fail with EPERM)"},
    [OPT_NBD_EXPORT_NAME] = {"export-name", 0, "<name>",
        "the export name clients ask for [default: \"\"]"},
    [OPT_NBD_SHARED] = {"shared", 0, "<n>",
        "serve at most N connections at once; one more\n"
        "waits up to 5 s, then is refused [default: 1]"},
    [OPT_PIDFILE] = {"pidfile", 0, "<file>",
        "write the server's process id to FILE (removed at\n"
        "exit)"},
    [OPT_BACKEND] = {"backend", 0, "<backend>",
        "where the pool keeps its objects: local (files in\n"
        "the cluster directory or --path) or rados (a Ceph\n"
        "cluster) [default: local]"},
    [OPT_CEPH_CONF] = {"ceph-conf", 0, "<file>",
        "rados: the Ceph cluster's configuration file\n"
        "[default: $CEPH_CONF, else /etc/ceph/ceph.conf]"},
    [OPT_RADOS_POOL] = {"rados-pool", 0, "<pool>",
        "rados: the RADOS pool, made if missing\n"
        "[default: the pool name]"},
};

bool opt_is_global(enum opt_id id)
{
  return id == OPT_CLUSTER_DIR || id == OPT_FORMAT || id == OPT_PRETTY ||
         id == OPT_NO_PROGRESS || id == OPT_HELP;
}

/* The option called NAME (LEN bytes) that CMD takes, else any option of
 * that name (to report it as not valid for the command), else OPT_NONE. */
static enum opt_id find_long(const struct command *cmd, const char *name,
                             size_t len)
{
  enum opt_id any = OPT_NONE;
  for (int i = 1; i < OPT_COUNT; i++) {
    if (strlen(cli_opts[i].name) != len || strncmp(cli_opts[i].name, name, len))
      continue;
    if (!cmd || command_takes(cmd, (enum opt_id)i))
      return (enum opt_id)i;
    if (any == OPT_NONE)
      any = (enum opt_id)i;
  }
  return any;
}

static enum opt_id find_short(const struct command *cmd, char ch)
{
  enum opt_id any = OPT_NONE;
  for (int i = 1; i < OPT_COUNT; i++) {
    if (cli_opts[i].short_name != ch)
      continue;
    if (!cmd || command_takes(cmd, (enum opt_id)i))
      return (enum opt_id)i;
    if (any == OPT_NONE)
      any = (enum opt_id)i;
  }
  return any;
}

static int set_opt(struct ctx *c, enum opt_id id, const char *value)
{
  const char *name = cli_opts[id].name;
  if (id == OPT_FEATURE) {
    size_t old = c->features ? strlen(c->features) : 0;
    char *p = realloc(c->features, old + strlen(value) + 2);
    if (!p)
      return cli_usage(c, "out of memory");
    if (old)
      p[old++] = ',';
    strcpy(p + old, value);
    c->features = p;
    c->val[id] = c->features;
    return 0;
  }
  if (c->val[id] && !cli_opts[id].arg)
    return 0; /* a flag given twice */
  if (c->val[id])
    return cli_usage(c, "option --%s given more than once", name);
  c->val[id] = value;
  return 0;
}

/* Which command do the positionals name?  Moves them out of C->pos. */
static int find_command(struct ctx *c)
{
  if (c->npos == 0)
    return 0;
  int used;
  c->cmd = command_find(c->pos, c->npos, &used);
  if (!c->cmd) {
    if (command_is_group(c->pos[0]) && opt_set(c, OPT_HELP))
      return 0; /* main shows the group's help */
    if (command_is_group(c->pos[0]) && c->npos > 1)
      return cli_usage(c, "unknown command '%s %s'; see 'lbd help %s'",
                       c->pos[0], c->pos[1], c->pos[0]);
    if (command_is_group(c->pos[0]))
      return cli_usage(c, "'%s' needs a command; see 'lbd help %s'",
                       c->pos[0], c->pos[0]);
    return cli_usage(c, "unknown command '%s'; see 'lbd help' for the "
                     "commands", c->pos[0]);
  }
  memmove(c->pos, c->pos + used, (size_t)(c->npos - used) * sizeof *c->pos);
  c->npos -= used;
  return 0;
}

/* Check the options against the command, now that it is known. */
static int check_options(struct ctx *c)
{
  for (int i = 1; i < OPT_COUNT; i++) {
    if (!c->val[i] || !c->cmd || command_takes(c->cmd, (enum opt_id)i))
      continue;
    /* the same long name may mean another option here (--path) */
    enum opt_id alt = find_long(c->cmd, cli_opts[i].name,
                                strlen(cli_opts[i].name));
    if (alt != OPT_NONE && alt != (enum opt_id)i &&
        command_takes(c->cmd, alt)) {
      c->val[alt] = c->val[i];
      c->val[i] = NULL;
      continue;
    }
    return cli_usage(c, "option --%s is not valid for 'lbd %s'; see "
                     "'lbd help %s'", cli_opts[i].name, c->cmd->name,
                     c->cmd->name);
  }
  return 0;
}

int args_parse(struct ctx *c, int argc, char **argv)
{
  c->pos = calloc((size_t)argc + 1, sizeof *c->pos);
  if (!c->pos)
    return cli_usage(c, "out of memory");
  bool options = true;
  for (int i = 1; i < argc; i++) {
    char *a = argv[i];
    if (!options || a[0] != '-' || a[1] == '\0') {
      c->pos[c->npos++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      options = false;
      continue;
    }
    enum opt_id id;
    const char *value = NULL;
    if (a[1] == '-') {
      const char *eq = strchr(a + 2, '=');
      size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
      id = find_long(NULL, a + 2, len);
      if (id == OPT_NONE)
        return cli_usage(c, "unknown option '%.*s'; see 'lbd help'",
                         (int)len + 2, a);
      if (eq && !cli_opts[id].arg)
        return cli_usage(c, "option --%s takes no value", cli_opts[id].name);
      value = eq ? eq + 1 : NULL;
    } else {
      id = find_short(NULL, a[1]);
      if (id == OPT_NONE)
        return cli_usage(c, "unknown option '-%c'; see 'lbd help'", a[1]);
      if (a[2] && cli_opts[id].arg) {
        value = a + 2;
      } else if (a[2]) {
        /* bundled flags such as -lh */
        for (const char *p = a + 1; *p; p++) {
          enum opt_id f = find_short(NULL, *p);
          if (f == OPT_NONE || cli_opts[f].arg)
            return cli_usage(c, "unknown option '%s'; see 'lbd help'", a);
          if (set_opt(c, f, "") < 0)
            return -EINVAL;
        }
        continue;
      }
    }
    if (cli_opts[id].arg && !value) {
      if (i + 1 >= argc)
        return cli_usage(c, "option --%s needs a value %s", cli_opts[id].name,
                         cli_opts[id].arg);
      value = argv[++i];
    }
    if (set_opt(c, id, value ? value : "") < 0)
      return -EINVAL;
  }
  int r = find_command(c);
  if (r == 0)
    r = check_options(c);
  return r;
}

const char *args_next(struct ctx *c)
{
  return c->next_pos < c->npos ? c->pos[c->next_pos++] : NULL;
}

int args_done(struct ctx *c)
{
  if (c->next_pos < c->npos)
    return cli_usage(c, "unexpected argument '%s'; see 'lbd help %s'",
                     c->pos[c->next_pos], c->cmd->name);
  return 0;
}

int parse_u64(const char *text, uint64_t *out)
{
  if (!isdigit((unsigned char)text[0]))
    return -EINVAL;
  char *end;
  errno = 0;
  unsigned long long n = strtoull(text, &end, 10);
  if (errno || *end)
    return errno == ERANGE ? -ERANGE : -EINVAL;
  *out = n;
  return 0;
}

int parse_size(const char *text, unsigned default_shift, uint64_t *out)
{
  if (!isdigit((unsigned char)text[0]))
    return -EINVAL;
  char *end;
  errno = 0;
  unsigned long long n = strtoull(text, &end, 10);
  if (errno)
    return -ERANGE;
  unsigned shift = default_shift;
  if (*end) {
    static const char units[] = "BKMGTPE";
    const char *u = strchr(units, toupper((unsigned char)*end));
    if (!u)
      return -EINVAL;
    shift = 10 * (unsigned)(u - units);
    end++;
    if (shift && *end == 'i')
      end++;
    if (shift && *end == 'B')
      end++;
    if (*end)
      return -EINVAL;
  }
  if (shift >= 64 || n > (UINT64_MAX >> shift))
    return -ERANGE;
  *out = (uint64_t)n << shift;
  return 0;
}

int opt_size(struct ctx *c, enum opt_id id, unsigned default_shift,
             uint64_t *out)
{
  int r = parse_size(c->val[id], default_shift, out);
  if (r == -ERANGE)
    return cli_usage(c, "--%s %s is too large", cli_opts[id].name, c->val[id]);
  if (r < 0)
    return cli_usage(c, "invalid --%s '%s': give a whole number with an "
                     "optional unit B, K, M, G, T or P (powers of 1024)%s",
                     cli_opts[id].name, c->val[id],
                     default_shift == 20 ? "; a plain number is MiB" : "");
  return 0;
}

int opt_u64(struct ctx *c, enum opt_id id, uint64_t *out)
{
  int r = parse_u64(c->val[id], out);
  if (r == -ERANGE)
    return cli_usage(c, "--%s %s is too large", cli_opts[id].name, c->val[id]);
  if (r < 0)
    return cli_usage(c, "invalid --%s '%s': give a whole number",
                     cli_opts[id].name, c->val[id]);
  return 0;
}
