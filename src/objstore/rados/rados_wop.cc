// Zero-copy RADOS write ops (rados_wop.h): a librados::ObjectWriteOperation
// whose data bufferlists point at the caller's buffers
// (buffer::create_static), run on the C API's rados_ioctx_t.  No C++
// exception escapes: an allocation that fails marks the op, and
// rados_wop_operate then returns -ENOMEM without running it.
#include <cerrno>
#include <map>
#include <new>
#include <set>
#include <string>

#include <rados/librados.hpp>

#include "objstore/rados/rados_wop.h"

struct rados_wop {
  librados::ObjectWriteOperation op;
  bool failed = false;
};

namespace {

// Run F on OP's operation; remember a failed allocation.
template <typename F> void step(rados_wop_t w, F f)
{
  if (!w || w->failed)
    return;
  try {
    f(w->op);
  } catch (const std::bad_alloc &) {
    w->failed = true;
  }
}

librados::bufferlist copied(const char *p, size_t len)
{
  librados::bufferlist bl;
  bl.append(p, static_cast<unsigned>(len));
  return bl;
}

// The caller's bytes, not a copy (they outlive the op: rados_wop.h).
librados::bufferlist borrowed(const char *p, size_t len)
{
  librados::bufferlist bl;
  if (len)
    bl.push_back(ceph::buffer::create_static(static_cast<unsigned>(len),
                                             const_cast<char *>(p)));
  return bl;
}

} // namespace

extern "C" rados_wop_t rados_wop_create(void)
{
  return new (std::nothrow) rados_wop;
}

extern "C" void rados_wop_release(rados_wop_t w) { delete w; }

extern "C" void rados_wop_assert_exists(rados_wop_t w)
{
  step(w, [](auto &op) { op.assert_exists(); });
}

extern "C" void rados_wop_assert_version(rados_wop_t w, uint64_t ver)
{
  step(w, [&](auto &op) { op.assert_version(ver); });
}

extern "C" void rados_wop_cmpxattr(rados_wop_t w, const char *name,
                                   uint8_t cmp, const char *value, size_t len)
{
  step(w, [&](auto &op) { op.cmpxattr(name, cmp, copied(value, len)); });
}

extern "C" void rados_wop_create_object(rados_wop_t w, int exclusive)
{
  step(w, [&](auto &op) { op.create(exclusive != 0); });
}

extern "C" void rados_wop_write(rados_wop_t w, const char *buf, size_t len,
                                uint64_t off)
{
  step(w, [&](auto &op) { op.write(off, borrowed(buf, len)); });
}

extern "C" void rados_wop_write_full(rados_wop_t w, const char *buf,
                                     size_t len)
{
  step(w, [&](auto &op) { op.write_full(borrowed(buf, len)); });
}

extern "C" void rados_wop_truncate(rados_wop_t w, uint64_t size)
{
  step(w, [&](auto &op) { op.truncate(size); });
}

extern "C" void rados_wop_zero(rados_wop_t w, uint64_t off, uint64_t len)
{
  step(w, [&](auto &op) { op.zero(off, len); });
}

extern "C" void rados_wop_remove(rados_wop_t w)
{
  step(w, [](auto &op) { op.remove(); });
}

extern "C" void rados_wop_setxattr(rados_wop_t w, const char *name,
                                   const char *value, size_t len)
{
  step(w, [&](auto &op) { op.setxattr(name, copied(value, len)); });
}

extern "C" void rados_wop_rmxattr(rados_wop_t w, const char *name)
{
  step(w, [&](auto &op) { op.rmxattr(name); });
}

extern "C" void rados_wop_omap_set(rados_wop_t w, const char *key,
                                   size_t klen, const char *value, size_t vlen)
{
  step(w, [&](auto &op) {
    std::map<std::string, librados::bufferlist> kv;
    kv.emplace(std::string(key, klen), copied(value, vlen));
    op.omap_set(kv);
  });
}

extern "C" void rados_wop_omap_rm(rados_wop_t w, const char *key, size_t klen)
{
  step(w, [&](auto &op) {
    std::set<std::string> keys{std::string(key, klen)};
    op.omap_rm_keys(keys);
  });
}

extern "C" void rados_wop_omap_clear(rados_wop_t w)
{
  step(w, [](auto &op) { op.omap_clear(); });
}

extern "C" int rados_wop_operate(rados_wop_t w, rados_ioctx_t io,
                                 const char *oid)
{
  if (!w || w->failed)
    return -ENOMEM;
  try {
    librados::IoCtx ctx;
    librados::IoCtx::from_rados_ioctx_t(io, ctx);
    return ctx.operate(oid, &w->op, 0);
  } catch (const std::bad_alloc &) {
    return -ENOMEM;
  }
}
