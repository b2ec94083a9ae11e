// What librados' C API lacks and its C++ API has: list-snaps and sparse
// reads (ObjectReadOperation::list_snaps, ::sparse_read).  The only C++ in
// lbd: extern "C" helpers on the C API's rados_ioctx_t (the same IoCtx, so
// its namespace, read snap and last version are the caller's), called by
// rados_backend.c.  No C++ exception escapes: each one is an error code.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>

#include <rados/librados.hpp>

#include "objstore/rados/rados_snaps.h"

extern "C" int rados_cxx_list_snaps(rados_ioctx_t io, const char *oid,
                                    struct rados_cxx_snap_set *out)
{
  std::memset(out, 0, sizeof *out);
  try {
    librados::IoCtx ctx;
    librados::IoCtx::from_rados_ioctx_t(io, ctx);
    librados::snap_set_t ss;
    int rv = 0;
    librados::ObjectReadOperation op;
    op.list_snaps(&ss, &rv);
    // the head, or the clones of an object whose head is gone
    ctx.snap_set_read(LIBRADOS_SNAP_DIR);
    librados::bufferlist unused;
    int r = ctx.operate(oid, &op, &unused);
    ctx.snap_set_read(LIBRADOS_SNAP_HEAD);
    if (r == 0 && rv < 0)
      r = rv;
    if (r < 0)
      return r;
    out->seq = ss.seq;
    size_t n = ss.clones.size();
    out->clones = static_cast<struct rados_cxx_clone *>(
        std::calloc(n ? n : 1, sizeof *out->clones));
    if (!out->clones)
      return -ENOMEM;
    for (const librados::clone_info_t &ci : ss.clones) {
      if (ci.cloneid == LIBRADOS_SNAP_HEAD) {
        out->head_exists = true;
        out->head_size = ci.size;
        continue;
      }
      struct rados_cxx_clone *c = &out->clones[out->nclones++];
      c->cloneid = ci.cloneid;
      c->size = ci.size;
      c->snaps = static_cast<uint64_t *>(
          std::malloc((ci.snaps.size() + 1) * sizeof *c->snaps));
      c->overlap = static_cast<uint64_t *>(
          std::malloc((2 * ci.overlap.size() + 1) * sizeof *c->overlap));
      if (!c->snaps || !c->overlap) {
        rados_cxx_snap_set_free(out);
        return -ENOMEM;
      }
      for (uint64_t s : ci.snaps)
        c->snaps[c->nsnaps++] = s;
      for (const auto &o : ci.overlap) {
        if (!o.second)
          continue;
        c->overlap[2 * c->noverlap] = o.first;
        c->overlap[2 * c->noverlap + 1] = o.second;
        c->noverlap++;
      }
    }
    return 0;
  } catch (const std::bad_alloc &) {
    rados_cxx_snap_set_free(out);
    return -ENOMEM;
  } catch (...) {
    rados_cxx_snap_set_free(out);
    return -EIO;
  }
}

extern "C" void rados_cxx_snap_set_free(struct rados_cxx_snap_set *set)
{
  for (size_t i = 0; set->clones && i < set->nclones; i++) {
    std::free(set->clones[i].snaps);
    std::free(set->clones[i].overlap);
  }
  std::free(set->clones);
  std::memset(set, 0, sizeof *set);
}

extern "C" int rados_cxx_sparse_read(rados_ioctx_t io, const char *oid,
                                     bool guard, uint64_t off, size_t len,
                                     void *buf, size_t *got, uint64_t *size,
                                     time_t *mtime, uint64_t **extents,
                                     size_t *nextents)
{
  *got = 0;
  *extents = nullptr;
  *nextents = 0;
  try {
    librados::IoCtx ctx;
    librados::IoCtx::from_rados_ioctx_t(io, ctx);
    librados::ObjectReadOperation op;
    int sv = 0, rv = 0;
    op.stat(size, mtime, &sv);
    if (guard) {
      librados::bufferlist empty;
      op.cmpxattr(RADOS_CXX_BUILD_XATTR, LIBRADOS_CMPXATTR_OP_EQ, empty);
    }
    std::map<uint64_t, uint64_t> m;
    librados::bufferlist data;
    if (len)
      op.sparse_read(off, len, &m, &data, &rv);
    librados::bufferlist unused;
    int r = ctx.operate(oid, &op, &unused);
    if (r > 0)
      r = 0; // a cmpxattr that holds returns 1
    if (r == 0 && rv < 0)
      r = rv;
    if (r == 0 && sv < 0)
      r = sv;
    if (r < 0)
      return r;
    // The extents hold the data back to back; the rest reads as zeroes.
    // RADOS reports up to the object's end (or len): what was read.
    uint64_t end = off;
    if (*size > off)
      end = *size - off < len ? *size : off + len;
    *got = end - off;
    if (buf)
      std::memset(buf, 0, *got);
    *extents = static_cast<uint64_t *>(
        std::malloc((2 * m.size() + 1) * sizeof **extents));
    if (!*extents)
      return -ENOMEM;
    uint64_t pos = 0;
    for (const auto &e : m) {
      uint64_t eo = e.first, el = e.second, at = pos;
      pos += e.second;
      if (eo < off || eo >= end || !el)
        continue;
      if (el > end - eo)
        el = end - eo;
      if (at + el > data.length())
        break;
      if (buf)
        data.begin(at).copy(el, static_cast<char *>(buf) + (eo - off));
      (*extents)[2 * *nextents] = eo;
      (*extents)[2 * *nextents + 1] = el;
      (*nextents)++;
    }
    return 0;
  } catch (const std::bad_alloc &) {
    std::free(*extents);
    *extents = nullptr;
    *nextents = 0;
    return -ENOMEM;
  } catch (...) {
    std::free(*extents);
    *extents = nullptr;
    *nextents = 0;
    return -EIO;
  }
}
