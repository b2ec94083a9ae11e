/* Fuzz target: the source-spec of an import (src/source/format.c, the
 * formats' spec parsing, stream.c's dispatch and field checks,
 * format_rbd.c's chains, spec.c's redaction).
 *
 * Each input is JSON text (anything else must be refused cleanly).  Every
 * object whose "type" names a stream (file, http, s3, nbd) is turned into
 * a file stream on one of a few small local files written at start (raw
 * bytes, an rbd export format 2 file, two rbd diffs that chain, an empty
 * file), chosen by a hash of what it named, so that no input reaches the
 * network and every format meets real bytes.  What opens is read (head
 * and snapshots, their first 64 KiB and extents) and closed.  Nothing may
 * crash, leak or hang; every error must come with a message.
 *
 * Built with -DLBD_FUZZ=ON (clang): a libFuzzer binary.  Otherwise
 * fuzz_main.c replays fuzz/corpus/source_spec (the test suite). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "lbd/lbd.h"
#include "source/format.h"
#include "source/spec.h"
#include "util/extents.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NFILES 5
static char files[NFILES][64];

static void put_le64(FILE *f, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    fputc((int)(v >> (8 * i)) & 0xff, f);
}

static void put_le32(FILE *f, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    fputc((int)(v >> (8 * i)) & 0xff, f);
}

/* A v2 diff: FROM (may be NULL) to TO (may be NULL), size 64 KiB, a 'w' of
 * 100 bytes at AT and a 'z' after it. */
static void put_diff(FILE *f, const char *from, const char *to, uint64_t at)
{
  fputs("rbd diff v2\n", f);
  if (from) {
    fputc('f', f);
    put_le64(f, 4 + strlen(from));
    put_le32(f, (uint32_t)strlen(from));
    fputs(from, f);
  }
  if (to) {
    fputc('t', f);
    put_le64(f, 4 + strlen(to));
    put_le32(f, (uint32_t)strlen(to));
    fputs(to, f);
  }
  fputc('s', f);
  put_le64(f, 8);
  put_le64(f, 65536);
  fputc('w', f);
  put_le64(f, 16 + 100);
  put_le64(f, at);
  put_le64(f, 100);
  for (int i = 0; i < 100; i++)
    fputc('A' + i % 26, f);
  fputc('z', f);
  put_le64(f, 16);
  put_le64(f, at + 4096);
  put_le64(f, 4096);
  fputc('e', f);
}

static void make_files(void)
{
  char dir[] = "/tmp/lbd-fuzz-spec-XXXXXX";
  if (!mkdtemp(dir))
    abort();
  const char *names[NFILES] = {"raw", "export", "diff0", "diff1", "empty"};
  for (int i = 0; i < NFILES; i++) {
    snprintf(files[i], sizeof files[i], "%s/%s", dir, names[i]);
    FILE *f = fopen(files[i], "w");
    if (!f)
      abort();
    switch (i) {
    case 0:
      for (int k = 0; k < 65536; k++)
        fputc(k * 7 & 0xff, f);
      break;
    case 1: /* export format 2: s0, then the head */
      fputs("rbd image v2\n", f);
      fputc('O', f);
      put_le64(f, 8);
      put_le64(f, 22);
      fputc('E', f);
      fputs("rbd image diffs v2\n", f);
      put_le64(f, 2);
      put_diff(f, NULL, "s0", 0);
      put_diff(f, "s0", NULL, 30000);
      break;
    case 2:
      put_diff(f, NULL, "a", 100);
      break;
    case 3:
      put_diff(f, "a", "b", 5000);
      break;
    default:
      break;
    }
    fclose(f);
  }
  /* the files stay for the process's life; removed at exit */
}

static void remove_files(void)
{
  char dir[64];
  for (int i = 0; i < NFILES; i++)
    unlink(files[i]);
  snprintf(dir, sizeof dir, "%s", files[0]);
  char *slash = strrchr(dir, '/');
  if (slash) {
    *slash = '\0';
    rmdir(dir);
  }
}

static uint32_t hash(const char *s)
{
  uint32_t h = 2166136261u;
  for (; s && *s; s++)
    h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

/* Streams become local files (depth-limited: jansson bounds the depth of
 * what it parses). */
static void localise(json_t *v)
{
  if (json_is_array(v)) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) localise(x);
    return;
  }
  if (!json_is_object(v))
    return;
  const char *key;
  json_t *x;
  json_object_foreach(v, key, x) localise(x);
  const char *t = json_string_value(json_object_get(v, "type"));
  if (!t || (strcmp(t, "file") && strcmp(t, "http") && strcmp(t, "s3") &&
             strcmp(t, "nbd")))
    return;
  const char *what = json_string_value(json_object_get(v, "file_path"));
  if (!what)
    what = json_string_value(json_object_get(v, "url"));
  if (!what)
    what = json_string_value(json_object_get(v, "uri"));
  json_object_set_new(v, "type", json_string("file"));
  if (!what && !json_object_get(v, "file_path"))
    return; /* a missing file_path stays missing */
  uint32_t k = hash(what) % NFILES;
  for (uint32_t i = 0; what && i < NFILES; i++) /* a file named as such */
    if (strcmp(what, strrchr(files[i], '/') + 1) == 0)
      k = i;
  json_object_set_new(v, "file_path", json_string(files[k]));
}

static void exercise(struct format *f, uint32_t snap)
{
  static uint8_t buf[65536];
  struct extent_set x = {0};
  uint64_t size = format_size(f, snap);
  size_t n = size < sizeof buf ? (size_t)size : sizeof buf;
  format_read(f, snap, 0, n, buf);
  if (size > 10)
    format_read(f, snap, size - 10, 20, buf);
  format_extents(f, snap, 0, size, &x);
  extent_set_free(&x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int ready;
  if (!ready) {
    make_files();
    atexit(remove_files);
    ready = 1;
  }
  /* the redaction `lbd status` prints takes any text */
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  free(source_spec_redacted(text));
  free(text);

  json_error_t je;
  json_t *spec = json_loadb((const char *)data, size, JSON_DECODE_ANY, &je);
  if (!spec)
    return 0;
  localise(spec);
  struct format *f = NULL;
  int r = format_open(spec, NULL, &f);
  json_decref(spec);
  if (getenv("FUZZ_SPEC_VERBOSE"))
    fprintf(stderr, "format_open: %d %s\n", r, r < 0 ? lbd_last_error() : "");
  if (r < 0) {
    if (!lbd_last_error()[0]) {
      fprintf(stderr, "format_open failed (%d) without a message\n", r);
      abort();
    }
    return 0;
  }
  exercise(f, FORMAT_HEAD);
  for (uint32_t i = 0; i < format_snap_count(f) && i < 4; i++)
    exercise(f, i);
  format_close(f);
  return 0;
}
