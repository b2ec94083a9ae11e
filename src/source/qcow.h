/* QCOW on-disk constants (qemu's docs/interop/qcow2.txt and block/qcow.c).
 * Every multi-byte field is big-endian. */
#ifndef LBD_SOURCE_QCOW_H
#define LBD_SOURCE_QCOW_H

#include <stdint.h>

#define QCOW_MAGIC 0x514649fbu /* "QFI\xfb" */

/* QCOW version 1 header (48 bytes) */
#define QCOW1_HDR_SIZE 48
#define QCOW1_BACKING_OFFSET 8   /* u64 */
#define QCOW1_BACKING_SIZE 16    /* u32 */
#define QCOW1_SIZE 24            /* u64 */
#define QCOW1_CLUSTER_BITS 32    /* u8 */
#define QCOW1_L2_BITS 33         /* u8 */
#define QCOW1_CRYPT 36           /* u32 */
#define QCOW1_L1_OFFSET 40       /* u64 */
#define QCOW1_OFLAG_COMPRESSED (1ull << 63)

/* QCOW2 header, version 2 (72 bytes) and 3 (104 bytes and more) */
#define QCOW2_V2_HDR_SIZE 72
#define QCOW2_V3_HDR_SIZE 104
#define QCOW2_BACKING_OFFSET 8   /* u64 */
#define QCOW2_BACKING_SIZE 16    /* u32 */
#define QCOW2_CLUSTER_BITS 20    /* u32 */
#define QCOW2_SIZE 24            /* u64 */
#define QCOW2_CRYPT 32           /* u32 */
#define QCOW2_L1_SIZE 36         /* u32 */
#define QCOW2_L1_OFFSET 40       /* u64 */
#define QCOW2_NB_SNAPSHOTS 60    /* u32 */
#define QCOW2_SNAPSHOTS_OFFSET 64 /* u64 */
#define QCOW2_INCOMPAT 72        /* u64 */
#define QCOW2_COMPAT 80          /* u64 */
#define QCOW2_AUTOCLEAR 88       /* u64 */
#define QCOW2_REFCOUNT_ORDER 96  /* u32 */
#define QCOW2_HEADER_LENGTH 100  /* u32 */
#define QCOW2_COMPRESSION_TYPE 104 /* u8 */

#define QCOW2_INCOMPAT_DIRTY 0
#define QCOW2_INCOMPAT_CORRUPT 1
#define QCOW2_INCOMPAT_DATA_FILE 2
#define QCOW2_INCOMPAT_COMPRESSION 3
#define QCOW2_INCOMPAT_EXTL2 4

#define QCOW2_COMPRESSION_ZLIB 0
#define QCOW2_COMPRESSION_ZSTD 1

/* header extensions */
#define QCOW2_EXT_END 0
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE 0x6803f857u
#define QCOW2_EXT_DATA_FILE 0x44415441u
#define QCOW2_FEATURE_NAME_SIZE 48

/* L1 and L2 entries */
#define QCOW2_L1E_OFFSET_MASK 0x00fffffffffffe00ull
#define QCOW2_L2E_OFFSET_MASK 0x00fffffffffffe00ull
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO 1ull
#define QCOW2_SUBCLUSTERS 32

/* snapshot table entry: fixed part (40 bytes), then extra data, id, name */
#define QCOW2_SN_L1_OFFSET 0     /* u64 */
#define QCOW2_SN_L1_SIZE 8       /* u32 */
#define QCOW2_SN_ID_SIZE 12      /* u16 */
#define QCOW2_SN_NAME_SIZE 14    /* u16 */
#define QCOW2_SN_DATE_SEC 16     /* u32 */
#define QCOW2_SN_DATE_NSEC 20    /* u32 */
#define QCOW2_SN_EXTRA_SIZE 36   /* u32 */
#define QCOW2_SN_FIXED 40
#define QCOW2_SN_EXTRA_DISK_SIZE 8 /* u64, in extra data */

/* qemu's own limits */
#define QCOW_MAX_L1_BYTES (32u << 20)
#define QCOW_MAX_SNAPSHOTS 65536
#define QCOW_MAX_SNAPSHOT_EXTRA 1024
#define QCOW_MAX_SNAPSHOT_TABLE (64u << 20)
#define QCOW_MAX_BACKING_NAME 1023

#endif
