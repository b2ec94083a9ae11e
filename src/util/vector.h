/* A growable array of one element type.
 *   DEFINE_VECTOR(u64_vec, uint64_t);
 *   struct u64_vec v = {0}; u64_vec_push(&v, 7); free(v.ptr);
 */
#ifndef LBD_UTIL_VECTOR_H
#define LBD_UTIL_VECTOR_H

#include <errno.h>
#include <stdlib.h>

#define DEFINE_VECTOR(name, type)                                            \
  struct name {                                                              \
    type *ptr;                                                               \
    size_t len, cap;                                                         \
  };                                                                         \
  static inline __attribute__((unused)) int name##_reserve(struct name *v,   \
                                                           size_t n)         \
  {                                                                          \
    if (v->len + n <= v->cap)                                                \
      return 0;                                                              \
    size_t cap = v->cap ? v->cap * 2 : 8;                                    \
    while (cap < v->len + n)                                                 \
      cap *= 2;                                                              \
    type *p = realloc(v->ptr, cap * sizeof(type));                           \
    if (!p)                                                                  \
      return -ENOMEM;                                                        \
    v->ptr = p;                                                              \
    v->cap = cap;                                                            \
    return 0;                                                                \
  }                                                                          \
  static inline __attribute__((unused)) int name##_push(struct name *v,      \
                                                        type x)              \
  {                                                                          \
    int r = name##_reserve(v, 1);                                            \
    if (r < 0)                                                               \
      return r;                                                              \
    v->ptr[v->len++] = x;                                                    \
    return 0;                                                                \
  }

#endif
