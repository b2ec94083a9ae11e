/* A user of liblbd.so: create a cluster and an image, write and read it
 * back synchronously and asynchronously, copy it, lock it. */
#include <lbd/lbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(expr)                                                          \
  do {                                                                       \
    long long r_ = (long long)(expr);                                        \
    if (r_ < 0) {                                                            \
      fprintf(stderr, "%s = %lld: %s\n", #expr, r_, lbd_last_error());       \
      exit(1);                                                               \
    }                                                                        \
  } while (0)

int main(int argc, char **argv)
{
  lbd_cluster_t *c;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  lbd_completion_t *comp;
  struct lbd_image_options o = {.size = 8 << 20};
  char buf[4096], got[4096];
  if (argc != 2)
    return 2;
  CHECK(lbd_cluster_open(argv[1], true, &c));
  CHECK(lbd_ioctx_create(c, "rbd", NULL, &io));
  CHECK(lbd_create(io, "hello", &o));
  CHECK(lbd_open(io, "hello", NULL, 0, &img));
  memset(buf, 'h', sizeof buf);
  CHECK(lbd_write(img, 4096, sizeof buf, buf));
  CHECK(lbd_aio_create_completion(NULL, NULL, &comp));
  CHECK(lbd_aio_read(img, 4096, sizeof got, got, comp));
  CHECK(lbd_aio_wait_for_complete(comp));
  if (lbd_aio_get_return_value(comp) != (ssize_t)sizeof got ||
      memcmp(buf, got, sizeof got) != 0) {
    fprintf(stderr, "aio read back wrong data\n");
    return 1;
  }
  lbd_aio_release(comp);
  CHECK(lbd_lock_exclusive(img, "hello-lock"));
  CHECK(lbd_copy(img, io, "hello-copy", NULL));
  CHECK(lbd_close(img));
  CHECK(lbd_open(io, "hello-copy", NULL, LBD_OPEN_READ_ONLY, &img));
  CHECK(lbd_read(img, 4096, sizeof got, got));
  uint64_t prov, used;
  CHECK(lbd_disk_usage(img, &prov, &used));
  CHECK(lbd_close(img));
  if (memcmp(buf, got, sizeof got) != 0 || prov != o.size || used != 4096) {
    fprintf(stderr, "copy is wrong (used %llu)\n", (unsigned long long)used);
    return 1;
  }
  if (lbd_open(io, "missing", NULL, 0, &img) != -2 || !*lbd_last_error()) {
    fprintf(stderr, "no error for a missing image\n");
    return 1;
  }
  lbd_ioctx_destroy(io);
  lbd_cluster_close(c);
  printf("hello from liblbd %d.%d.%d\n", LBD_VERSION_MAJOR, LBD_VERSION_MINOR,
         LBD_VERSION_PATCH);
  return 0;
}
