/* lbd nbd serve: serve an image (or a snapshot, read-only) over NBD, in
 * the foreground, until SIGTERM or SIGINT (src/nbd/). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "nbd/nbd.h"

#define MAX_SHARED 1024

int cmd_nbd_serve(struct ctx *c)
{
  struct nbd_server_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.socket_path = c->val[OPT_NBD_SOCKET];
  cfg.bind_addr = c->val[OPT_NBD_BIND] ? c->val[OPT_NBD_BIND] : "127.0.0.1";
  cfg.export_name = c->val[OPT_NBD_EXPORT_NAME] ? c->val[OPT_NBD_EXPORT_NAME]
                                                : "";
  cfg.pidfile = c->val[OPT_PIDFILE];
  cfg.read_only = opt_set(c, OPT_READ_ONLY);
  cfg.shared = 1;

  bool tcp = opt_set(c, OPT_NBD_PORT);
  if (cfg.socket_path && (tcp || opt_set(c, OPT_NBD_BIND)))
    return cli_usage(c, "give either --socket or --bind/--port, not both");
  if (!cfg.socket_path && !tcp)
    return cli_usage(c, "give --socket PATH or --port N (with --bind "
                     "ADDRESS, 127.0.0.1 by default)");
  if (cfg.socket_path && !*cfg.socket_path)
    return cli_usage(c, "--socket is empty: give a path");
  if (!*cfg.bind_addr)
    return cli_usage(c, "--bind is empty: give an address");
  if (tcp) {
    uint64_t port;
    if (opt_u64(c, OPT_NBD_PORT, &port) < 0)
      return -EINVAL;
    if (port > 65535)
      return cli_usage(c, "--port %s is not a TCP port (0 to 65535; 0: any "
                       "free port)", c->val[OPT_NBD_PORT]);
    cfg.port = (unsigned)port;
  }
  if (opt_set(c, OPT_NBD_SHARED)) {
    uint64_t n;
    if (opt_u64(c, OPT_NBD_SHARED, &n) < 0)
      return -EINVAL;
    if (n < 1 || n > MAX_SHARED)
      return cli_usage(c, "--shared must be from 1 to %d", MAX_SHARED);
    cfg.shared = (unsigned)n;
  }
  if (strlen(cfg.export_name) > NBD_MAX_STRING)
    return cli_usage(c, "--export-name is longer than %d bytes",
                     NBD_MAX_STRING);
  if (cfg.pidfile && !*cfg.pidfile)
    return cli_usage(c, "--pidfile is empty: give a path");

  struct spec s;
  int r = spec_image(c, SPEC_SOURCE, true, &s);
  if (r < 0)
    return r;
  if ((r = args_done(c)) < 0) {
    spec_free(&s);
    return r;
  }
  /* a snapshot is read-only */
  if (s.snap)
    cfg.read_only = true;
  char desc[1024];
  spec_str(&s, desc, sizeof desc); /* pool/[ns/]image[@snap] */
  lbd_ioctx_t *io;
  if ((r = cli_open(c, &s, !cfg.read_only, &io, &cfg.image)) < 0) {
    spec_free(&s);
    return r;
  }
  spec_free(&s);
  cfg.description = desc;
  r = nbd_server_run(&cfg);
  if (r < 0)
    cli_fail(c, r, NULL);
  int r2 = cli_close(c, io, cfg.image);
  return r < 0 ? r : r2;
}
