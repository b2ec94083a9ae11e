/* Inside the source formats: the vtable each format (raw, qcow) fills, and
 * helpers they share.  format.c checks snapshot indexes and clips every
 * request to the disk's size before it calls a format's read or extents,
 * so those see only 0 < LEN and OFF + LEN <= the size at SNAP. */
#ifndef LBD_SOURCE_FORMAT_INT_H
#define LBD_SOURCE_FORMAT_INT_H

#include "source/format.h"

struct format_ops {
  size_t struct_size; /* sizeof(struct format_ops): fields only get added */
  const char *name;
  int (*read)(struct format *f, uint32_t snap, uint64_t off, size_t len,
              void *buf);
  int (*extents)(struct format *f, uint32_t snap, uint64_t off, uint64_t len,
                 struct extent_set *out);
  /* Free PRIV and everything it holds (format.c frees the rest). */
  void (*close)(struct format *f);
};

struct format {
  const struct format_ops *ops;
  uint64_t size;             /* of the head */
  uint32_t nsnaps;
  struct format_snap *snaps; /* oldest first */
  void *priv;
};

/* A new format with OPS and PRIV, no snapshots. */
struct format *format_new(const struct format_ops *ops, void *priv,
                          uint64_t size);

/* Read [OFF, OFF+LEN) of S into BUF; what lies past the end of the stream
 * reads as zeroes. */
int format_pread(struct stream *s, uint64_t off, size_t len, void *buf);

int format_raw_open_spec(const json_t *spec, lbd_cluster_t *cluster,
                         struct format **out);
int format_raw_open_stream(struct stream *s, struct format **out);
int format_qcow_open_stream(struct stream *s, unsigned depth,
                            struct format **out);
/* rbd's export format 2 file (CHAIN false: "stream") or a chain of
 * export-diff files (CHAIN true: "streams" or "stream"), format_rbd.c. */
int format_rbd_open_spec(const json_t *spec, lbd_cluster_t *cluster,
                         bool chain, struct format **out);
/* Whether the first bytes of S are a QCOW magic (for backing probing). */
int format_qcow_probe(struct stream *s, bool *is_qcow);

#endif
