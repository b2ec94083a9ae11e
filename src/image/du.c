/* Disk usage of an image (rbd du): provisioned = the image size, used =
 * the bytes its data objects hold, from the extent maps of sparse reads of
 * the objects that exist (holes and missing objects take no space). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct du {
  struct lbd_image *img;
  uint64_t used;
};

static int du_object(uint64_t objectno, const char *oid, void *arg)
{
  struct du *d = arg;
  struct objstore_extent *ext;
  size_t n;
  (void)objectno;
  ssize_t got = objstore_sparse_read(d->img->data, oid, d->img->snap_id, 0,
                                     d->img->hdr.layout.object_size, NULL,
                                     &ext, &n);
  if (got == -ENOENT) { /* removed meanwhile */
    lbd_error_clear();
    return 0;
  }
  if (got < 0)
    return (int)got;
  for (size_t i = 0; i < n; i++)
    d->used += ext[i].len;
  free(ext);
  return 0;
}

int lbd_disk_usage(lbd_image_t *image, uint64_t *provisioned, uint64_t *used)
{
  lbd_error_clear();
  struct image_header hdr;
  int r = image_header_read(image->io->pool, image->id, &hdr);
  if (r < 0)
    return lbd_error_prefix(r, "disk usage of image %s", image->name);
  pthread_mutex_lock(&image->mu);
  image->hdr = hdr;
  pthread_mutex_unlock(&image->mu);
  struct du d = {image, 0};
  if ((r = image_each_data_object(image, du_object, &d)) < 0)
    return lbd_error_prefix(r, "disk usage of image %s", image->name);
  *provisioned = hdr.size;
  *used = d.used;
  return 0;
}
