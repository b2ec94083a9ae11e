/* Disk usage of an image (rbd du): provisioned = the image size, used =
 * the bytes its data objects hold at the version open (holes and missing
 * objects take no space): the data extents of its diff from the beginning
 * (diff.c), which reads the extent maps of the objects that exist.  Also
 * the walk over the data objects that exist, which copy.c shares. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/diff.h"
#include "image/image_scan.h"
#include "util/error.h"

int image_each_data_object(struct lbd_image *img,
                           int (*fn)(uint64_t objectno, const char *oid,
                                     void *arg),
                           void *arg)
{
  /* Data object names are <prefix><16 hex digits>: they sort by object
   * number, right after the prefix itself. */
  char prefix[64], after[OBJSTORE_MAX_OBJECT_NAME + 1];
  int plen = snprintf(prefix, sizeof prefix, IMAGE_DATA_PREFIX "%s.", img->id);
  snprintf(after, sizeof after, "%s", prefix);
  const char *ns = objstore_pool_ns(img->data);
  bool more = true;
  int r = 0;
  while (r == 0 && more) {
    struct objstore_list_entry *e;
    size_t n;
    if ((r = objstore_list(img->data, 0, ns, after, 256, &e, &n, &more)) < 0)
      break;
    for (size_t i = 0; r == 0 && i < n; i++) {
      const char *name = e[i].name;
      if (strncmp(name, prefix, (size_t)plen) != 0) {
        more = false;
        break;
      }
      char *end;
      uint64_t objectno = strtoull(name + plen, &end, 16);
      if (strlen(name + plen) == 16 && !*end)
        r = fn(objectno, name, arg);
    }
    if (n)
      snprintf(after, sizeof after, "%s", e[n - 1].name);
    objstore_list_free(e, n);
  }
  return r;
}

/* Sum the extents that hold data. */
static int du_extent(uint64_t off, uint64_t len, bool exists, void *arg)
{
  (void)off;
  if (exists)
    *(uint64_t *)arg += len;
  return 0;
}

int lbd_disk_usage(lbd_image_t *image, uint64_t *provisioned, uint64_t *used)
{
  lbd_error_clear();
  uint64_t sum = 0, size;
  /* The diff from the beginning: the data objects that exist (or, at a
   * snapshot, existed), each measured by its sparse read there. */
  int r = image_diff_iterate(image, 0, 0, 0, UINT64_MAX, IMAGE_DIFF_OWN_DATA,
                             du_extent, &sum);
  if (r == 0)
    r = lbd_get_size(image, &size);
  if (r < 0)
    return lbd_error_prefix(r, "disk usage of image %s", image->name);
  *provisioned = size;
  *used = sum;
  return 0;
}
