/* liblbd: live block devices.  The public C library, modelled on librbd.
 *
 * Every call returns 0 (or a count where stated) or a negative errno, and
 * lbd_last_error() then describes what failed and why, for the user.
 * Handles may be used from several threads at once. */
#ifndef LBD_LBD_H
#define LBD_LBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LBD_VERSION_MAJOR 0
#define LBD_VERSION_MINOR 1
#define LBD_VERSION_PATCH 0

/* The message of the last failed call in this thread ("" if none). */
const char *lbd_last_error(void);

typedef struct lbd_cluster lbd_cluster_t;
typedef struct lbd_ioctx lbd_ioctx_t;
typedef struct lbd_image lbd_image_t;

/* ---- clusters and pools --------------------------------------------- */

/* Open the cluster in DIR; with CREATE, make it (and its pool "rbd") if DIR
 * holds none yet. */
int lbd_cluster_open(const char *dir, bool create, lbd_cluster_t **out);
void lbd_cluster_close(lbd_cluster_t *cluster);

/* DIR NULL: inside the cluster directory; else the pool's own directory. */
int lbd_pool_create(lbd_cluster_t *cluster, const char *name, const char *dir);
/* Removes the pool with every image in it. */
int lbd_pool_remove(lbd_cluster_t *cluster, const char *name);

struct lbd_pool_info {
  int64_t id;
  char *name;
  char *path;
};
int lbd_pool_list(lbd_cluster_t *cluster, struct lbd_pool_info **pools,
                  size_t *count);
void lbd_pool_list_free(struct lbd_pool_info *pools, size_t count);

/* IO context on POOL and namespace NS ("" or NULL: the default one). */
int lbd_ioctx_create(lbd_cluster_t *cluster, const char *pool, const char *ns,
                     lbd_ioctx_t **out);
void lbd_ioctx_destroy(lbd_ioctx_t *io);

int lbd_namespace_create(lbd_ioctx_t *io, const char *name);
int lbd_namespace_remove(lbd_ioctx_t *io, const char *name);
/* Names malloc'd, and the array; free with lbd_names_free(). */
int lbd_namespace_list(lbd_ioctx_t *io, char ***names, size_t *count);
void lbd_names_free(char **names, size_t count);

/* ---- images ---------------------------------------------------------- */

#define LBD_FEATURE_LAYERING (1ULL << 0)
#define LBD_FEATURE_STRIPINGV2 (1ULL << 1)
#define LBD_FEATURE_EXCLUSIVE_LOCK (1ULL << 2)
#define LBD_FEATURE_OBJECT_MAP (1ULL << 3)
#define LBD_FEATURE_FAST_DIFF (1ULL << 4)
#define LBD_FEATURE_DEEP_FLATTEN (1ULL << 5)
#define LBD_FEATURE_DATA_POOL (1ULL << 7)
/* rbd's default set. */
#define LBD_FEATURES_DEFAULT                                                 \
  (LBD_FEATURE_LAYERING | LBD_FEATURE_EXCLUSIVE_LOCK |                       \
   LBD_FEATURE_OBJECT_MAP | LBD_FEATURE_FAST_DIFF | LBD_FEATURE_DEEP_FLATTEN)

/* Parse "layering,exclusive-lock,..." (rbd's names, or a number) into a
 * feature mask; EINVAL naming the unknown feature. */
int lbd_features_parse(const char *text, uint64_t *features);
/* The comma-separated names of FEATURES into BUF. */
void lbd_features_format(uint64_t features, char *buf, size_t size);

struct lbd_image_options {
  uint64_t size;
  uint64_t object_size;  /* 0: 4 MiB */
  uint64_t stripe_unit;  /* 0: the object size */
  uint64_t stripe_count; /* 0: 1 */
  uint64_t features;     /* 0: LBD_FEATURES_DEFAULT */
  const char *data_pool; /* NULL: data in the image's own pool */
};

int lbd_create(lbd_ioctx_t *io, const char *name,
               const struct lbd_image_options *opts);
int lbd_remove(lbd_ioctx_t *io, const char *name);
int lbd_rename(lbd_ioctx_t *io, const char *name, const char *new_name);
/* Image names, sorted. */
int lbd_list(lbd_ioctx_t *io, char ***names, size_t *count);

enum {
  LBD_OPEN_READ_ONLY = 1 << 0,
};
/* Open image NAME, at snapshot SNAP if not NULL (then read-only). */
int lbd_open(lbd_ioctx_t *io, const char *name, const char *snap,
             unsigned flags, lbd_image_t **out);
int lbd_close(lbd_image_t *image);

ssize_t lbd_read(lbd_image_t *image, uint64_t off, size_t len, void *buf);
ssize_t lbd_write(lbd_image_t *image, uint64_t off, size_t len,
                  const void *buf);
/* Both leave the range reading as zeroes and, where whole blocks allow it,
 * unallocated. */
int lbd_discard(lbd_image_t *image, uint64_t off, uint64_t len);
int lbd_write_zeroes(lbd_image_t *image, uint64_t off, uint64_t len);
/* Every write returned before is durable. */
int lbd_flush(lbd_image_t *image);

/* Grow or shrink (shrinking drops the data past SIZE). */
int lbd_resize(lbd_image_t *image, uint64_t size);

struct lbd_image_info {
  char id[32];
  char name[256];
  uint64_t size;
  uint64_t object_size;
  int order;
  uint64_t stripe_unit;
  uint64_t stripe_count;
  uint64_t features;
  uint64_t num_objs;
  int64_t data_pool_id; /* -1: none */
  int64_t create_time;  /* seconds since the epoch */
  char block_name_prefix[64];
};
int lbd_stat(lbd_image_t *image, struct lbd_image_info *info);
int lbd_get_size(lbd_image_t *image, uint64_t *size);

/* ---- watchers ------------------------------------------------------- */

struct lbd_watcher {
  char client[64];
  pid_t pid;
  bool rw;
};
int lbd_watchers_list(lbd_image_t *image, struct lbd_watcher **watchers,
                      size_t *count);
void lbd_watchers_list_free(struct lbd_watcher *watchers, size_t count);

/* ---- object map (feature object-map) ---------------------------------- */

/* Rebuild the image's object map from the data objects that exist (takes
 * the exclusive lock). */
int lbd_object_map_rebuild(lbd_image_t *image);
/* Count the objects whose state in the object map on disk is wrong. */
int lbd_object_map_check(lbd_image_t *image, uint64_t *wrong);

#ifdef __cplusplus
}
#endif
#endif
