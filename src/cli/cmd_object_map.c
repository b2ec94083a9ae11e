/* lbd object-map rebuild | check */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli/cli.h"

int cmd_object_map_rebuild(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  int r = spec_image(c, SPEC_SOURCE, false, &s);
  if (r < 0)
    return r;
  if ((r = args_done(c)) == 0 && (r = cli_open(c, &s, true, &io, &img)) == 0) {
    if ((r = lbd_object_map_rebuild(img)) < 0)
      cli_fail(c, r, "rebuilding the object map");
    else if (c->progress)
      fprintf(stderr, "Object Map Rebuild: 100%% complete...done.\n");
    int e = cli_close(c, io, img);
    r = r < 0 ? r : e;
  }
  spec_free(&s);
  return r;
}

int cmd_object_map_check(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  uint64_t wrong = 0;
  int r = spec_image(c, SPEC_SOURCE, false, &s);
  if (r < 0)
    return r;
  if ((r = args_done(c)) == 0 && (r = cli_open(c, &s, false, &io, &img)) == 0) {
    if ((r = lbd_object_map_check(img, &wrong)) < 0)
      cli_fail(c, r, "checking the object map");
    cli_close(c, io, img);
  }
  spec_free(&s);
  if (r == 0 && c->json) {
    json_t *j = json_pack("{s:I}", "wrong_objects", (json_int_t)wrong);
    r = json_print(c, j);
  } else if (r == 0) {
    printf(wrong ? "object map is invalid: %" PRIu64 " object(s) are wrong; "
                   "run 'lbd object-map rebuild'\n"
                 : "object map is valid\n", wrong);
  }
  if (r == 0 && wrong)
    r = -EIO;
  return r;
}
