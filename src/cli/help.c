/* `lbd help` and `--help`, rendered from the command and option tables. */
#include <string.h>

#include "cli/cli.h"

#define HELP_COLUMN 28

/* "  LEFT   HELP", HELP's later lines indented to the column. */
static void print_row(FILE *f, const char *left, const char *help)
{
  int n = fprintf(f, "  %s", left);
  if (n >= HELP_COLUMN - 1) {
    fputc('\n', f);
    n = 0;
  }
  fprintf(f, "%*s", HELP_COLUMN - n, "");
  for (const char *p = help; *p; p++) {
    fputc(*p, f);
    if (*p == '\n')
      fprintf(f, "%*s", HELP_COLUMN, "");
  }
  fputc('\n', f);
}

static void print_option(FILE *f, enum opt_id id, const char *help)
{
  const struct opt_def *o = &cli_opts[id];
  char left[96];
  int n = 0;
  if (o->short_name)
    n = snprintf(left, sizeof left, "-%c, ", o->short_name);
  snprintf(left + n, sizeof left - (size_t)n, "--%s%s%s", o->name,
           o->arg ? " " : "", o->arg ? o->arg : "");
  print_row(f, left, help ? help : o->help);
}

static void print_globals(FILE *f)
{
  fprintf(f, "\nGlobal options\n");
  print_option(f, OPT_CLUSTER_DIR, NULL);
  print_option(f, OPT_HELP, NULL);
}

void help_command(FILE *f, const struct command *cmd)
{
  fprintf(f, "usage: lbd %s [options]", cmd->name);
  for (int i = 0; i < CMD_MAX_ARGS && cmd->args[i].name; i++)
    fprintf(f, cmd->args[i].optional ? " [%s]" : " %s", cmd->args[i].name);
  fprintf(f, "\n");
  if (cmd->alias)
    fprintf(f, "   or: lbd %s ...\n", cmd->alias);
  fprintf(f, "\n%s\n", cmd->summary);
  if (cmd->details)
    fprintf(f, "%s\n", cmd->details);
  if (cmd->args[0].name) {
    fprintf(f, "\nPositional arguments\n");
    for (int i = 0; i < CMD_MAX_ARGS && cmd->args[i].name; i++)
      print_row(f, cmd->args[i].name, cmd->args[i].help);
  }
  bool any = false;
  for (const struct cmd_opt *o = cmd->opts; o->id != OPT_NONE; o++) {
    if (!any)
      fprintf(f, "\nOptional arguments\n");
    any = true;
    print_option(f, o->id, o->help);
  }
  print_globals(f);
}

void help_group(FILE *f, const char *group)
{
  size_t len = strlen(group);
  fprintf(f, "usage: lbd %s <command> [options]\n\nCommands\n", group);
  for (size_t i = 0; i < cli_ncommands; i++) {
    const struct command *cmd = &cli_commands[i];
    if (strncmp(cmd->name, group, len) == 0 && cmd->name[len] == ' ')
      print_row(f, cmd->name, cmd->summary);
  }
  fprintf(f, "\nSee 'lbd help %s <command>' for a command's options.\n",
          group);
}

void help_general(FILE *f)
{
  fprintf(f, "usage: lbd <command> [options] [arguments]\n\n"
             "lbd manages block images in an lbd cluster, as Ceph's rbd "
             "does in a Ceph\ncluster.\n\nCommands\n");
  for (size_t i = 0; i < cli_ncommands; i++) {
    const struct command *cmd = &cli_commands[i];
    char left[64];
    const char *alias = cmd->alias ? strrchr(cmd->alias, ' ') : NULL;
    alias = alias ? alias + 1 : cmd->alias;
    snprintf(left, sizeof left, "%s%s%s%s", cmd->name, alias ? " (" : "",
             alias ? alias : "", alias ? ")" : "");
    print_row(f, left, cmd->summary);
  }
  print_globals(f);
  fprintf(f,
          "\nImages are named by specs [<pool>/[<namespace>/]]<image>; the "
          "pool defaults\nto \"rbd\".  A cluster directory is made, with the "
          "pool \"rbd\", on first use.\nSizes take a unit B, K, M, G, T or P "
          "(powers of 1024).  Options may come\nbefore or after the "
          "arguments; '--' ends them.\n"
          "\nErrors go to stderr as 'lbd: <what failed>: <why>'.  The exit "
          "status is 0 on\nsuccess, else the errno of the failure (2: no "
          "such image or pool, 22: invalid\nargument, 16: busy, 17: exists).\n"
          "\nSee 'lbd help <command>' for a command's options.\n");
}

int cmd_help(struct ctx *c)
{
  if (c->npos == 0) {
    help_general(stdout);
    return 0;
  }
  int used;
  const struct command *cmd = command_find(c->pos, c->npos, &used);
  if (cmd && used == c->npos) {
    help_command(stdout, cmd);
    return 0;
  }
  if (c->npos == 1 && command_is_group(c->pos[0])) {
    help_group(stdout, c->pos[0]);
    return 0;
  }
  char words[256];
  snprintf(words, sizeof words, "%s%s%s", c->pos[0], c->npos > 1 ? " " : "",
           c->npos > 1 ? c->pos[1] : "");
  return cli_usage(c, "unknown command '%s'; see 'lbd help' for the "
                   "commands", words);
}
