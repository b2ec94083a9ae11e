/* The commands of lbd: names, arguments, options and summaries, as rbd
 * names them.  `lbd help` renders its text from this table. */
#include <string.h>

#include "cli/cli.h"

#define IMAGE_SPEC_HELP                                                      \
  "image specification\n"                                                    \
  "(example: [<pool>/[<namespace>/]]<image>)"
#define SNAP_SPEC_HELP                                                       \
  "image or snapshot specification\n"                                        \
  "(example: [<pool>/[<namespace>/]]<image>[@<snap>])"
#define SPEC_OPTS {OPT_POOL, NULL}, {OPT_NAMESPACE, NULL}, {OPT_IMAGE, NULL}
#define FORMAT_OPTS {OPT_FORMAT, NULL}, {OPT_PRETTY, NULL}
#define LAYOUT_OPTS                                                          \
  {OPT_OBJECT_SIZE, NULL}, {OPT_ORDER, NULL}, {OPT_FEATURE, NULL},           \
  {OPT_STRIPE_UNIT, NULL}, {OPT_STRIPE_COUNT, NULL}, {OPT_DATA_POOL, NULL}

const struct command cli_commands[] = {
    {"bench", NULL, "Simple benchmark.",
     "Runs --io-total bytes of IO of --io-size each, from --io-threads\n"
     "threads, and prints the operations and bytes per second, every second\n"
     "and at the end.  Writes overwrite the image's data.",
     {{"<image-spec>", SNAP_SPEC_HELP, false}},
     {SPEC_OPTS, {OPT_SNAP, "snapshot name (--io-type read only)"},
      {OPT_IO_TYPE, "IO type (read or write) (required)"},
      {OPT_IO_SIZE, NULL}, {OPT_IO_THREADS, NULL}, {OPT_IO_TOTAL, NULL},
      {OPT_IO_PATTERN, NULL}, {OPT_NONE, NULL}},
     cmd_bench},
    {"create", NULL, "Create an empty image.",
     "Only the data written later takes space: the image starts sparse.",
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS,
      {OPT_SIZE, "image size (in M/G/T) [default unit: M] (required)"},
      LAYOUT_OPTS, {OPT_NONE, NULL}},
     cmd_create},
    {"export", NULL, "Export image to file.",
     "Writes the raw bytes of the image to a new file (it must not exist),\n"
     "or to stdout with '-'.  Zeroed areas become holes in a file.",
     {{"<image-spec>", SNAP_SPEC_HELP, false},
      {"<path>", "export file (or '-' for stdout)", false}},
     {SPEC_OPTS, {OPT_SNAP, NULL},
      {OPT_PATH, "export file (or '-' for stdout)"}, {OPT_NO_PROGRESS, NULL},
      {OPT_NONE, NULL}},
     cmd_export},
    {"help", NULL, "Show help for a command.", NULL,
     {{"<command>", "command, e.g. 'create' or 'pool ls'", true}},
     {{OPT_NONE, NULL}},
     cmd_help},
    {"import", NULL, "Import image from file.",
     "Reads raw bytes from a file, a block device or stdin ('-') into a new\n"
     "image of the same size.  Blocks of zeroes are not written, so holes\n"
     "and zeroed areas take no space.  The image name defaults to the\n"
     "file's name.  On failure the new image is removed.",
     {{"<path>", "import file (or '-' for stdin)", false},
      {"<dest-image-spec>", "destination image specification\n"
       "(example: [<pool>/[<namespace>/]]<image>)", true}},
     {{OPT_PATH, "import file (or '-' for stdin)"}, {OPT_DEST_POOL, NULL},
      {OPT_DEST_NAMESPACE, NULL}, {OPT_DEST, NULL},
      {OPT_POOL, "destination pool name (as --dest-pool)"},
      {OPT_NAMESPACE, "destination namespace name (as --dest-namespace)"},
      {OPT_IMAGE, "destination image name (as --dest)"}, LAYOUT_OPTS,
      {OPT_NO_PROGRESS, NULL}, {OPT_NONE, NULL}},
     cmd_import},
    {"info", NULL, "Show information about image size, striping, etc.", NULL,
     {{"<image-spec>", SNAP_SPEC_HELP, false}},
     {SPEC_OPTS, {OPT_SNAP, NULL}, FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_info},
    {"ls", "list", "List images.",
     "With -l: the size and format of each image.",
     {{"<pool-spec>", "pool specification\n"
       "(example: <pool>[/<namespace>]) [default: rbd]", true}},
     {{OPT_LONG, NULL}, {OPT_POOL, NULL}, {OPT_NAMESPACE, NULL}, FORMAT_OPTS,
      {OPT_NONE, NULL}},
     cmd_ls},
    {"namespace create", NULL, "Create an image namespace.", NULL,
     {{"<namespace-spec>", "namespace specification\n"
       "(example: [<pool>/]<namespace>)", false}},
     {{OPT_POOL, NULL}, {OPT_NAMESPACE, NULL}, {OPT_NONE, NULL}},
     cmd_namespace_create},
    {"namespace ls", "namespace list", "List image namespaces.", NULL,
     {{"<pool-name>", "pool name [default: rbd]", true}},
     {{OPT_POOL, NULL}, FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_namespace_ls},
    {"namespace rm", "namespace remove", "Remove an image namespace.",
     "The namespace must hold no images.",
     {{"<namespace-spec>", "namespace specification\n"
       "(example: [<pool>/]<namespace>)", false}},
     {{OPT_POOL, NULL}, {OPT_NAMESPACE, NULL}, {OPT_NONE, NULL}},
     cmd_namespace_rm},
    {"pool create", NULL, "Create a pool.",
     "lbd's counterpart of 'ceph osd pool create'.  With --path the pool\n"
     "keeps its objects in a directory of its own, e.g. on another disk.",
     {{"<pool-name>", "pool name", false}},
     {{OPT_POOL, NULL}, {OPT_POOL_PATH, NULL}, {OPT_NONE, NULL}},
     cmd_pool_create},
    {"pool init", NULL, "Initialize pool for use by lbd.",
     "Checks that the pool exists and can hold images.",
     {{"<pool-name>", "pool name [default: rbd]", true}},
     {{OPT_POOL, NULL}, {OPT_NONE, NULL}},
     cmd_pool_init},
    {"pool ls", "pool list", "List pools.",
     "With -l: the id and the data directory of each pool.",
     {{NULL, NULL, false}},
     {{OPT_LONG, NULL}, FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_pool_ls},
    {"pool rm", "pool remove", "Remove a pool.",
     "Refuses a pool that still holds images unless --force is given; then\n"
     "every image in the pool (in every namespace) is removed with it.",
     {{"<pool-name>", "pool name", false}},
     {{OPT_POOL, NULL}, {OPT_FORCE, NULL}, {OPT_NONE, NULL}},
     cmd_pool_rm},
    {"rename", "mv", "Rename image within pool.", NULL,
     {{"<source-image-spec>", "source image specification\n"
       "(example: [<pool>/[<namespace>/]]<image>)", false},
      {"<dest-image-spec>", "destination image specification\n"
       "(example: [<pool>/[<namespace>/]]<image>)", false}},
     {{OPT_POOL, "source pool name [default: rbd]"},
      {OPT_NAMESPACE, "source namespace name"},
      {OPT_IMAGE, "source image name"}, {OPT_DEST_POOL, NULL},
      {OPT_DEST_NAMESPACE, NULL}, {OPT_DEST, NULL}, {OPT_NONE, NULL}},
     cmd_rename},
    {"resize", NULL, "Resize (expand or shrink) image.",
     "Shrinking drops the data past the new size, so it needs\n"
     "--allow-shrink.",
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS, {OPT_SIZE, "new image size (in M/G/T) [default unit: M]"},
      {OPT_ALLOW_SHRINK, NULL}, {OPT_NO_PROGRESS, NULL}, {OPT_NONE, NULL}},
     cmd_resize},
    {"rm", "remove", "Delete an image.",
     "Refused while another client has the image open.",
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS, {OPT_NO_PROGRESS, NULL}, {OPT_NONE, NULL}},
     cmd_rm},
    {"status", NULL, "Show the status of this image.",
     "Lists the watchers: the processes that have the image open, with\n"
     "their mode (read-write or read-only).",
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS, FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_status},
};
const size_t cli_ncommands = sizeof cli_commands / sizeof *cli_commands;

/* Does NAME ("pool create") match the first words of WORDS? */
static int match(const char *name, char **words, int n)
{
  if (!name)
    return 0;
  const char *space = strchr(name, ' ');
  if (!space)
    return strcmp(name, words[0]) == 0 ? 1 : 0;
  size_t len = (size_t)(space - name);
  if (n < 2 || strlen(words[0]) != len || strncmp(name, words[0], len) ||
      strcmp(space + 1, words[1]))
    return 0;
  return 2;
}

const struct command *command_find(char **words, int n, int *used)
{
  for (size_t i = 0; n > 0 && i < cli_ncommands; i++) {
    int m = match(cli_commands[i].name, words, n);
    if (!m)
      m = match(cli_commands[i].alias, words, n);
    if (m) {
      *used = m;
      return &cli_commands[i];
    }
  }
  return NULL;
}

bool command_is_group(const char *word)
{
  size_t len = strlen(word);
  for (size_t i = 0; i < cli_ncommands; i++) {
    const char *name = cli_commands[i].name;
    if (strncmp(name, word, len) == 0 && name[len] == ' ')
      return true;
  }
  return false;
}

bool command_takes(const struct command *cmd, enum opt_id id)
{
  if (opt_is_global(id))
    return true;
  for (const struct cmd_opt *o = cmd->opts; o->id != OPT_NONE; o++)
    if (o->id == id)
      return true;
  return false;
}
