/* Replay driver for fuzz targets built without libFuzzer: runs
 * LLVMFuzzerTestOneInput on each file named, and on every file of each
 * directory named (a corpus), or on stdin without arguments. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_MAX (64u << 20)

static int run_stream(FILE *f, const char *name)
{
  uint8_t *buf = malloc(INPUT_MAX);
  if (!buf) {
    fprintf(stderr, "%s: out of memory\n", name);
    return -1;
  }
  size_t n = fread(buf, 1, INPUT_MAX, f);
  int r = ferror(f) ? -1 : 0;
  if (r < 0)
    fprintf(stderr, "%s: %s\n", name, strerror(errno));
  else
    LLVMFuzzerTestOneInput(buf, n);
  free(buf);
  return r;
}

static int run_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return -1;
  }
  int r = run_stream(f, path);
  fclose(f);
  return r;
}

static int run_dir(const char *dir, unsigned *count)
{
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "%s: %s\n", dir, strerror(errno));
    return -1;
  }
  int r = 0;
  struct dirent *e;
  while (r == 0 && (e = readdir(d))) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
      r = run_file(path);
      (*count)++;
    }
  }
  closedir(d);
  return r;
}

int main(int argc, char **argv)
{
  unsigned count = 0;
  int r = 0;
  if (argc < 2) {
    count = 1;
    r = run_stream(stdin, "stdin");
  }
  for (int i = 1; r == 0 && i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
      r = run_dir(argv[i], &count);
    } else {
      r = run_file(argv[i]);
      count++;
    }
  }
  if (r == 0)
    printf("%u input(s) replayed\n", count);
  return r == 0 ? 0 : 1;
}
