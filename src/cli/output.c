/* What lbd prints: errors, sizes, tables, JSON and progress. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static void prefix(struct ctx *c)
{
  fputs("lbd: ", stderr);
  if (c && c->cmd && strcmp(c->cmd->name, "help") != 0)
    fprintf(stderr, "%s: ", c->cmd->name);
}

int cli_fail(struct ctx *c, int r, const char *what, ...)
{
  const char *why = lbd_last_error();
  prefix(c);
  if (what) {
    va_list ap;
    va_start(ap, what);
    vfprintf(stderr, what, ap);
    va_end(ap);
    fputs(": ", stderr);
  }
  fprintf(stderr, "%s\n", *why ? why : strerror(r < 0 ? -r : r));
  return r < 0 ? r : -r;
}

int cli_syserr(struct ctx *c, int r, const char *what, ...)
{
  va_list ap;
  prefix(c);
  va_start(ap, what);
  vfprintf(stderr, what, ap);
  va_end(ap);
  fprintf(stderr, ": %s\n", strerror(r < 0 ? -r : r));
  return r < 0 ? r : -r;
}

int cli_usage(struct ctx *c, const char *fmt, ...)
{
  va_list ap;
  prefix(c);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return -EINVAL;
}

/* As Ceph's byte_u_t: whole multiples plainly, else the most precise of
 * "%.2f", "%.1f", "%.0f" that fits in 7 characters with the unit. */
const char *fmt_bytes(uint64_t v, char *buf, size_t size)
{
  static const char *const units[] = {" B",   " KiB", " MiB", " GiB",
                                      " TiB", " PiB", " EiB"};
  uint64_t n = v;
  int index = 0;
  while (n >= 1024 && index < 6) {
    n /= 1024;
    index++;
  }
  uint64_t mult = 1ULL << (10 * index);
  if (index == 0 || v % mult == 0) {
    snprintf(buf, size, "%llu%s", (unsigned long long)n, units[index]);
    return buf;
  }
  for (int prec = 2; prec >= 0; prec--)
    if (snprintf(buf, size, "%.*f%s", prec, (double)v / (double)mult,
                 units[index]) <= 7)
      break;
  return buf;
}

int json_print(struct ctx *c, json_t *j)
{
  if (!j)
    return cli_fail(c, -ENOMEM, "building JSON output");
  size_t flags = JSON_PRESERVE_ORDER |
                 (c->pretty ? JSON_INDENT(4) : JSON_COMPACT);
  int r = json_dumpf(j, stdout, flags);
  json_decref(j);
  fputc('\n', stdout);
  return r < 0 ? cli_fail(c, -EIO, "writing JSON output") : 0;
}

void table_init(struct table *t, size_t ncols, const char *const *heads,
                const bool *right)
{
  memset(t, 0, sizeof *t);
  t->ncols = ncols;
  t->heads = heads;
  t->right = right;
}

int table_row(struct table *t, ...)
{
  if ((t->nrows + 1) * t->ncols > t->cap) {
    size_t cap = t->cap ? t->cap * 2 : t->ncols * 16;
    char **p = realloc(t->cells, cap * sizeof *p);
    if (!p)
      return -ENOMEM;
    t->cells = p;
    t->cap = cap;
  }
  va_list ap;
  va_start(ap, t);
  char **row = t->cells + t->nrows * t->ncols;
  int r = 0;
  for (size_t i = 0; i < t->ncols; i++)
    if (!(row[i] = strdup(va_arg(ap, const char *))))
      r = -ENOMEM;
  va_end(ap);
  t->nrows++;
  return r;
}

void table_print(const struct table *t, FILE *f)
{
  size_t width[16] = {0};
  for (size_t j = 0; j < t->ncols && j < 16; j++) {
    width[j] = strlen(t->heads[j]);
    for (size_t i = 0; i < t->nrows; i++) {
      const char *cell = t->cells[i * t->ncols + j];
      if (cell && strlen(cell) > width[j])
        width[j] = strlen(cell);
    }
  }
  for (size_t j = 0; j < t->ncols; j++)
    fprintf(f, "%s%-*s", j ? "  " : "", (int)width[j], t->heads[j]);
  fputc('\n', f);
  for (size_t i = 0; i < t->nrows; i++) {
    for (size_t j = 0; j < t->ncols; j++) {
      const char *cell = t->cells[i * t->ncols + j];
      fprintf(f, t->right[j] ? "%s%*s" : "%s%-*s", j ? "  " : "",
              (int)width[j], cell ? cell : "");
    }
    fputc('\n', f);
  }
}

void table_free(struct table *t)
{
  for (size_t i = 0; i < t->nrows * t->ncols; i++)
    free(t->cells[i]);
  free(t->cells);
  memset(t, 0, sizeof *t);
}

void progress_init(struct progress *p, struct ctx *c, const char *op)
{
  p->op = op;
  p->last = 0;
  p->on = !opt_set(c, OPT_NO_PROGRESS) && isatty(STDERR_FILENO);
}

void progress_update(struct progress *p, uint64_t done, uint64_t total)
{
  if (!p->on || !total)
    return;
  int pc = (int)((double)done * 100.0 / (double)total);
  if (pc > p->last) {
    fprintf(stderr, "\r%s: %d%% complete...", p->op, pc);
    fflush(stderr);
    p->last = pc;
  }
}

void progress_finish(struct progress *p)
{
  if (p->on)
    fprintf(stderr, "\r%s: 100%% complete...done.\n", p->op);
}

void progress_fail(struct progress *p)
{
  if (p->on)
    fprintf(stderr, "\r%s: %d%% complete...failed.\n", p->op, p->last);
}

volatile int cli_interrupted;

static void on_signal(int sig)
{
  cli_interrupted = sig;
}

void cli_catch_signals(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: a blocked read returns */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
}
