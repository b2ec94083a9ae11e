/* Image and pool specs, as rbd reads them: the --pool/--namespace/--image
 * options first, then a positional [pool/[namespace/]]image[@snap]; the
 * spec's parts win over the options. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define SPEC_FORM "[<pool>/[<namespace>/]]<image>[@<snapshot>]"

void spec_free(struct spec *s)
{
  free(s->buf);
  s->buf = NULL;
}

const char *spec_str(const struct spec *s, char *buf, size_t size)
{
  snprintf(buf, size, "%s/%s%s%s%s%s", s->pool, s->ns, *s->ns ? "/" : "",
           s->image, s->snap ? "@" : "", s->snap ? s->snap : "");
  return buf;
}

static bool bad_name(const char *name)
{
  return !*name || strpbrk(name, "/@");
}

/* Split TEXT (copied into S->buf) over S's parts. */
static int parse_image_spec(struct ctx *c, const char *text, struct spec *s)
{
  char *buf = strdup(text);
  if (!buf)
    return cli_usage(c, "out of memory");
  free(s->buf);
  s->buf = buf;
  char *at = strchr(buf, '@');
  if (at) {
    *at = '\0';
    if (bad_name(at + 1))
      return cli_usage(c, "invalid image spec '%s': the snapshot name after "
                       "'@' is empty or holds '/' or '@'; the form is "
                       SPEC_FORM, text);
    s->snap = at + 1;
  }
  char *parts[4];
  int n = 0;
  for (char *p = buf; n < 4; n++) {
    parts[n] = p;
    char *slash = strchr(p, '/');
    if (!slash) {
      n++;
      break;
    }
    *slash = '\0';
    p = slash + 1;
  }
  if (n > 3)
    return cli_usage(c, "invalid image spec '%s': too many '/'; the form is "
                     SPEC_FORM, text);
  for (int i = 0; i < n; i++)
    if (!*parts[i])
      return cli_usage(c, "invalid image spec '%s': a name in it is empty; "
                       "the form is " SPEC_FORM, text);
  s->image = parts[n - 1];
  if (n >= 2)
    s->pool = parts[0];
  if (n == 3)
    s->ns = parts[1];
  return 0;
}

static int check_parts(struct ctx *c, const struct spec *s, const char *kind)
{
  if (bad_name(s->pool))
    return cli_usage(c, "invalid %spool name '%s': it must be non-empty "
                     "without '/' or '@'", kind, s->pool);
  if (*s->ns && bad_name(s->ns))
    return cli_usage(c, "invalid %snamespace name '%s': it may not hold '/' "
                     "or '@'", kind, s->ns);
  return 0;
}

int spec_image(struct ctx *c, enum spec_kind kind, bool snap_ok,
               struct spec *s)
{
  bool dest = kind == SPEC_DEST;
  const char *what = dest ? "destination " : "";
  memset(s, 0, sizeof *s);
  s->pool = c->val[dest ? OPT_DEST_POOL : OPT_POOL];
  s->ns = c->val[dest ? OPT_DEST_NAMESPACE : OPT_NAMESPACE];
  const char *image = c->val[dest ? OPT_DEST : OPT_IMAGE];
  s->snap = dest ? NULL : c->val[OPT_SNAP];
  if (!image)
    image = args_next(c);
  if (image && parse_image_spec(c, image, s) < 0) {
    spec_free(s);
    return -EINVAL;
  }
  if (!s->image) {
    spec_free(s);
    return cli_usage(c, "%simage name was not specified; give it as "
                     SPEC_FORM, what);
  }
  if (!s->pool)
    s->pool = CLI_DEFAULT_POOL;
  if (!s->ns)
    s->ns = "";
  if (check_parts(c, s, what) < 0) {
    spec_free(s);
    return -EINVAL;
  }
  if (s->snap && !snap_ok) {
    spec_free(s);
    return cli_usage(c, "a %ssnapshot name (@%s) was given, but 'lbd %s' "
                     "works on images, not snapshots", what, c->val[OPT_SNAP]
                     ? c->val[OPT_SNAP] : strchr(image, '@') + 1, c->cmd->name);
  }
  if (s->snap && bad_name(s->snap)) {
    spec_free(s);
    return cli_usage(c, "invalid snapshot name '%s'", s->snap);
  }
  return 0;
}

int spec_pool(struct ctx *c, bool need_ns, struct spec *s)
{
  memset(s, 0, sizeof *s);
  s->pool = c->val[OPT_POOL];
  s->ns = c->val[OPT_NAMESPACE];
  const char *text = NULL;
  /* as rbd: a positional is read when --pool is not given, and for a
   * namespace command also when only --pool is */
  if (!s->pool || (need_ns && !s->ns))
    text = args_next(c);
  if (text) {
    if (!(s->buf = strdup(text)))
      return cli_usage(c, "out of memory");
    char *slash = strrchr(s->buf, '/');
    if (slash) {
      *slash = '\0';
      s->ns = slash + 1;
      s->pool = s->buf;
    } else if (need_ns && !s->ns) {
      s->ns = s->buf;
    } else {
      s->pool = s->buf;
    }
  }
  if (!s->pool)
    s->pool = CLI_DEFAULT_POOL;
  if (!s->ns)
    s->ns = "";
  if (check_parts(c, s, "") < 0) {
    spec_free(s);
    return -EINVAL;
  }
  if (need_ns && !*s->ns) {
    spec_free(s);
    return cli_usage(c, "namespace name was not specified; give it as "
                     "[<pool>/]<namespace>");
  }
  return 0;
}
