/* The lbd command: shared declarations of its parts.
 *
 *   main.c      dispatch, the cluster, exit status
 *   args.c      the option table, argv parsing, numbers and sizes
 *   commands.c  the command table: names, arguments, options, summaries
 *   help.c      `lbd help` and `--help` text rendered from the tables
 *   spec.c      image and pool specs ([pool/[namespace/]]image[@snap])
 *   output.c    errors, sizes as rbd prints them, tables, JSON, progress
 *   cmd_*.c     the commands
 */
#ifndef LBD_CLI_CLI_H
#define LBD_CLI_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lbd/lbd.h"

#define CLI_DEFAULT_POOL "rbd"

/* ---- options (args.c) ----------------------------------------------- */

enum opt_id {
  OPT_NONE, /* ends a command's option list */
  /* accepted by every command */
  OPT_CLUSTER_DIR, OPT_FORMAT, OPT_PRETTY, OPT_NO_PROGRESS, OPT_HELP,
  /* image and pool specs */
  OPT_POOL, OPT_NAMESPACE, OPT_IMAGE, OPT_SNAP,
  OPT_DEST_POOL, OPT_DEST_NAMESPACE, OPT_DEST,
  /* image layout */
  OPT_SIZE, OPT_OBJECT_SIZE, OPT_ORDER, OPT_STRIPE_UNIT, OPT_STRIPE_COUNT,
  OPT_FEATURE, OPT_DATA_POOL,
  /* per command */
  OPT_LONG, OPT_ALLOW_SHRINK, OPT_PATH, OPT_POOL_PATH, OPT_FORCE,
  OPT_IO_TYPE, OPT_IO_SIZE, OPT_IO_THREADS, OPT_IO_TOTAL, OPT_IO_PATTERN,
  /* trash, config-key */
  OPT_EXPIRES_AT, OPT_DELAY, OPT_ALL, OPT_EXPIRED_BEFORE, OPT_INPUT_FILE,
  OPT_OUTPUT_FILE,
  /* lock add */
  OPT_SHARED,
  /* snap limit set */
  OPT_LIMIT,
  /* diff, export-diff, export/import --export-format */
  OPT_FROM_SNAP, OPT_WHOLE_OBJECT, OPT_EXPORT_FORMAT,
  /* migration prepare / execute */
  OPT_FLATTEN, OPT_CONCURRENCY,
  OPT_IMPORT_ONLY, OPT_SOURCE_SPEC, OPT_SOURCE_SPEC_PATH, OPT_SOURCE_SPEC_FILE,
  OPT_VERIFY, OPT_MAX_RATE, OPT_THICK_PROVISION,
  /* nbd serve */
  OPT_NBD_SOCKET, OPT_NBD_BIND, OPT_NBD_PORT, OPT_READ_ONLY,
  OPT_NBD_EXPORT_NAME, OPT_NBD_SHARED, OPT_PIDFILE,
  /* pool create on another backend */
  OPT_BACKEND, OPT_CEPH_CONF, OPT_RADOS_POOL,
  OPT_COUNT
};

struct opt_def {
  const char *name;  /* long name, without "--" */
  char short_name;   /* 0: none */
  const char *arg;   /* NULL: a flag */
  const char *help;  /* default help text */
};
extern const struct opt_def cli_opts[OPT_COUNT];
/* Options every command accepts. */
bool opt_is_global(enum opt_id id);

/* ---- commands (commands.c) ------------------------------------------ */

struct ctx;

struct cmd_arg {
  const char *name; /* "<image-spec>" */
  const char *help;
  bool optional;
};

struct cmd_opt {
  enum opt_id id;
  const char *help; /* NULL: the option's default help */
};

#define CMD_MAX_ARGS 3
#define CMD_MAX_OPTS 20

struct command {
  const char *name;    /* "create", "pool create" */
  const char *alias;   /* "mv", "pool list"; NULL if none */
  const char *summary; /* one line */
  const char *details; /* NULL or a paragraph after the summary */
  struct cmd_arg args[CMD_MAX_ARGS];
  struct cmd_opt opts[CMD_MAX_OPTS]; /* ends with OPT_NONE */
  int (*run)(struct ctx *c);
};

extern const struct command cli_commands[];
extern const size_t cli_ncommands;
/* The command named by WORDS (1 or 2 of them); *USED says how many. */
const struct command *command_find(char **words, int n, int *used);
/* Does any command's name start with WORD followed by a space? */
bool command_is_group(const char *word);
bool command_takes(const struct command *cmd, enum opt_id id);

/* ---- one run of lbd (main.c, args.c) -------------------------------- */

struct ctx {
  const struct command *cmd;
  const char *val[OPT_COUNT]; /* option values; "" for a given flag */
  char *features;           /* every --image-feature, comma-joined */
  char **pos;               /* positional arguments */
  int npos, next_pos;
  bool json, pretty, progress;
  lbd_cluster_t *cluster;
  char cluster_dir[4096];
};

/* Parse ARGV into C (command, options, positionals); -EINVAL after an
 * error message.  C->cmd stays NULL when no command was named. */
int args_parse(struct ctx *c, int argc, char **argv);
static inline bool opt_set(const struct ctx *c, enum opt_id id)
{
  return c->val[id] != NULL;
}
/* The next positional argument, or NULL. */
const char *args_next(struct ctx *c);
/* -EINVAL with a message if positionals are left over. */
int args_done(struct ctx *c);

/* "10", "10M", "10MiB", "4K": a plain number is shifted by DEFAULT_SHIFT
 * (20 for --size, as rbd's MiB default; 0 for bytes). */
int parse_size(const char *text, unsigned default_shift, uint64_t *out);
int parse_u64(const char *text, uint64_t *out);
/* Option ID as a size / count, with a message naming the option. */
int opt_size(struct ctx *c, enum opt_id id, unsigned default_shift,
             uint64_t *out);
int opt_u64(struct ctx *c, enum opt_id id, uint64_t *out);

/* ---- the cluster (main.c) ------------------------------------------- */

/* Open the cluster (once). */
int cli_cluster(struct ctx *c);
/* Open the cluster (once) and an IO context on POOL/NS. */
int cli_ioctx(struct ctx *c, const char *pool, const char *ns,
              lbd_ioctx_t **io);
struct spec;
/* Open the image of S (at its snapshot if any; read-write if RW). */
int cli_open(struct ctx *c, const struct spec *s, bool rw, lbd_ioctx_t **io,
             lbd_image_t **img);
/* Close both; the first error (of the flush at close) is returned. */
int cli_close(struct ctx *c, lbd_ioctx_t *io, lbd_image_t *img);

/* ---- specs (spec.c) ------------------------------------------------- */

struct spec {
  const char *pool, *ns, *image, *snap; /* ns "" and snap NULL if none */
  char *buf;                            /* owns the parsed text */
};

enum spec_kind {
  SPEC_SOURCE, /* --pool, --namespace, --image, --snap */
  SPEC_DEST,   /* --dest-pool, --dest-namespace, --dest */
};

/* An image spec from the options of KIND, else the next positional.
 * SNAP_OK: the command can work on a snapshot. */
int spec_image(struct ctx *c, enum spec_kind kind, bool snap_ok,
               struct spec *s);
/* A pool spec "pool" or "pool/namespace" from --pool/--namespace, else
 * the next positional (if any); NEED_NS: the namespace is required. */
int spec_pool(struct ctx *c, bool need_ns, struct spec *s);
void spec_free(struct spec *s);
/* "pool/ns/image" for messages. */
const char *spec_str(const struct spec *s, char *buf, size_t size);

/* ---- output (output.c) ---------------------------------------------- */

/* "lbd: <command>: [<what>: ]<lbd_last_error() or strerror>"; returns R. */
int cli_fail(struct ctx *c, int r, const char *what, ...)
    __attribute__((format(printf, 3, 4)));
/* "lbd: <command>: <what>: <strerror(-R)>" for system calls; returns R. */
int cli_syserr(struct ctx *c, int r, const char *what, ...)
    __attribute__((format(printf, 3, 4)));
/* "lbd: <command>: <message>" for bad arguments; returns -EINVAL. */
int cli_usage(struct ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A size as rbd prints it: "512 B", "1 GiB", "1.5 GiB". */
const char *fmt_bytes(uint64_t v, char *buf, size_t size);

/* Print J (and drop the reference) as --format json [--pretty-format]. */
int json_print(struct ctx *c, json_t *j);

struct table {
  size_t ncols, nrows, cap;
  const char *const *heads;
  const bool *right; /* align cells right (headings stay left) */
  char **cells;
};
void table_init(struct table *t, size_t ncols, const char *const *heads,
                const bool *right);
/* Append a row of NCOLS strings (copied). */
int table_row(struct table *t, ...);
/* Columns two spaces apart, as rbd's TextTable. */
void table_print(const struct table *t, FILE *f);
void table_free(struct table *t);

struct progress {
  const char *op;
  int last;
  bool on;
};
/* Progress on stderr ("Importing image: 42% complete...") when stderr is a
 * terminal and --no-progress was not given. */
void progress_init(struct progress *p, struct ctx *c, const char *op);
void progress_update(struct progress *p, uint64_t done, uint64_t total);
void progress_finish(struct progress *p);
void progress_fail(struct progress *p);

/* Set by SIGINT/SIGTERM while a long command runs. */
extern volatile int cli_interrupted;
void cli_catch_signals(void);

/* ---- help (help.c) -------------------------------------------------- */

void help_general(FILE *f);
void help_command(FILE *f, const struct command *cmd);
/* Help for "pool", "namespace": the commands of the group. */
void help_group(FILE *f, const char *group);
/* `lbd help [command...]` */
int cmd_help(struct ctx *c);

/* ---- commands (cmd_*.c) --------------------------------------------- */

/* --size (if WANT_SIZE), --object-size/--order, --stripe-*, features and
 * --data-pool into O (strings point into C). */
int image_options(struct ctx *c, bool want_size,
                  struct lbd_image_options *o);

int cmd_create(struct ctx *c);
int cmd_info(struct ctx *c);
int cmd_ls(struct ctx *c);
int cmd_rm(struct ctx *c);
int cmd_rename(struct ctx *c);
int cmd_resize(struct ctx *c);
int cmd_status(struct ctx *c);
int cmd_object_map_rebuild(struct ctx *c);
int cmd_snap_create(struct ctx *c);
int cmd_snap_ls(struct ctx *c);
int cmd_snap_rm(struct ctx *c);
int cmd_snap_protect(struct ctx *c);
int cmd_snap_unprotect(struct ctx *c);
int cmd_snap_rename(struct ctx *c);
int cmd_snap_purge(struct ctx *c);
int cmd_snap_rollback(struct ctx *c);
int cmd_snap_limit_set(struct ctx *c);
int cmd_snap_limit_clear(struct ctx *c);
int cmd_object_map_check(struct ctx *c);
int cmd_import(struct ctx *c);
int cmd_export(struct ctx *c);
int cmd_bench(struct ctx *c);
int cmd_pool_create(struct ctx *c);
int cmd_pool_ls(struct ctx *c);
int cmd_pool_rm(struct ctx *c);
int cmd_pool_init(struct ctx *c);
int cmd_namespace_create(struct ctx *c);
int cmd_namespace_ls(struct ctx *c);
int cmd_namespace_rm(struct ctx *c);
/* cmd_lock.c, cmd_copy.c */
int cmd_lock_add(struct ctx *c);
int cmd_lock_ls(struct ctx *c);
int cmd_lock_rm(struct ctx *c);
int cmd_cp(struct ctx *c);
/* cmd_clone.c */
int cmd_clone(struct ctx *c);
int cmd_children(struct ctx *c);
int cmd_flatten(struct ctx *c);
/* cmd_migration.c */
int cmd_migration_prepare(struct ctx *c);
int cmd_migration_execute(struct ctx *c);
int cmd_migration_commit(struct ctx *c);
int cmd_migration_abort(struct ctx *c);
int cmd_migration_verify(struct ctx *c);
/* The Migration block of `lbd status` for IMAGE of IO (nothing if it is
 * not migrating); into J if given (--format json). */
int migration_status_print(struct ctx *c, lbd_ioctx_t *io, const char *image,
                           json_t *j);
int cmd_du(struct ctx *c);
/* cmd_trash.c, cmd_meta.c, cmd_config.c */
int cmd_trash_mv(struct ctx *c);
int cmd_trash_ls(struct ctx *c);
int cmd_trash_restore(struct ctx *c);
int cmd_trash_rm(struct ctx *c);
int cmd_trash_purge(struct ctx *c);
int cmd_meta_get(struct ctx *c);
int cmd_meta_set(struct ctx *c);
int cmd_meta_ls(struct ctx *c);
int cmd_meta_rm(struct ctx *c);
int cmd_config_key_set(struct ctx *c);
int cmd_config_key_get(struct ctx *c);
int cmd_config_key_rm(struct ctx *c);
int cmd_config_key_ls(struct ctx *c);
/* cmd_diff.c: diff, export-diff, import-diff, merge-diff */
int cmd_diff(struct ctx *c);
int cmd_export_diff(struct ctx *c);
int cmd_import_diff(struct ctx *c);
int cmd_merge_diff(struct ctx *c);
/* cmd_nbd.c */
int cmd_nbd_serve(struct ctx *c);

#endif
