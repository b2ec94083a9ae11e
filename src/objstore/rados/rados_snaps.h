/* The rados backend's C++ part (rados_snaps.cc): what librados' C API
 * lacks, list-snaps and sparse reads, from its C++ API, as C calls on a C
 * API ioctx.  Negative errnos as librados returns them. */
#ifndef LBD_OBJSTORE_RADOS_SNAPS_H
#define LBD_OBJSTORE_RADOS_SNAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <rados/librados.h>

#ifdef __cplusplus
extern "C" {
#endif

/* = RADOS_BUILD_XATTR of rados.h (not included here: C only) */
#define RADOS_CXX_BUILD_XATTR "lbd.building"

struct rados_cxx_clone {
  uint64_t cloneid;
  uint64_t *snaps;   /* oldest first */
  size_t nsnaps;
  uint64_t size;
  uint64_t *overlap; /* NOVERLAP (offset, length) pairs, with the next newer */
  size_t noverlap;
};
struct rados_cxx_snap_set {
  uint64_t seq;
  bool head_exists;
  uint64_t head_size;
  struct rados_cxx_clone *clones; /* oldest first, the head not among them */
  size_t nclones;
};

/* RADOS' list-snaps of OID (the head or, if it is gone, its clones);
 * -ENOENT if it has neither.  Leaves IO's read snap at the head. */
int rados_cxx_list_snaps(rados_ioctx_t io, const char *oid,
                         struct rados_cxx_snap_set *out);
void rados_cxx_snap_set_free(struct rados_cxx_snap_set *set);

/* One read op at IO's read snap: stat (SIZE, MTIME), if GUARD the check
 * that OID carries no history marker (-ECANCELED otherwise), and a sparse
 * read of [OFF, OFF+LEN): BUF (may be NULL) gets *GOT bytes, zeroes outside
 * the extents; *EXTENTS (malloc'd, even when empty) are NEXTENTS (offset,
 * length) pairs. */
int rados_cxx_sparse_read(rados_ioctx_t io, const char *oid, bool guard,
                          uint64_t off, size_t len, void *buf, size_t *got,
                          uint64_t *size, time_t *mtime, uint64_t **extents,
                          size_t *nextents);

#ifdef __cplusplus
}
#endif

#endif
