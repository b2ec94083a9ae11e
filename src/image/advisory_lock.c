/* Advisory image locks, as rbd's `lock add/ls/rm` (librbd's lock_exclusive,
 * lock_shared, unlock, break_lock, list_lockers).
 *
 * Why not objstore_lock(): an objstore lock belongs to the open handle that
 * took it and vanishes when that process exits or closes the pool.  That is
 * right for the internal exclusive lock (IMAGE_LOCK_NAME, image.c), whose
 * holder must be alive to write, but it would make `lbd lock add` from the
 * command line useless: the lock would be gone when the command exits.  In
 * Ceph the advisory lock lives in the cluster (cls_lock on the header) until
 * it is unlocked or broken, whoever took it and whether it is still alive.
 *
 * So advisory locks are omap entries on the image header:
 *     lock_<client> <cookie>  ->  {"client": .., "cookie": .., "tag": ..,
 *                                  "exclusive": true|false, "pid": N,
 *                                  "time": seconds, "desc": ..}
 * A locker is (client, cookie), client being the cluster handle's name
 * ("client.PID.N").  Every change reads the entries and the header's
 * version, decides, and writes with a compound op guarded by cmp_version
 * (retrying when the header changed meanwhile), so two processes racing
 * for the lock cannot both win, with no lock server.  The header layer
 * ignores keys it does not know, so these keys do not disturb it; they go
 * away with the header when the image is removed.  They are advisory: IO
 * never checks them, and they are independent of the internal exclusive
 * lock, which stays an objstore lock named IMAGE_LOCK_NAME. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image/image.h"
#include "util/error.h"

#define ALOCK_PREFIX "lock_"
#define ALOCK_RETRIES 100

struct alock {
  char *client, *cookie, *tag, *desc;
  bool exclusive;
  int64_t pid, time;
};

static void alock_free(struct alock *a, size_t n)
{
  for (size_t i = 0; a && i < n; i++) {
    free(a[i].client);
    free(a[i].cookie);
    free(a[i].tag);
    free(a[i].desc);
  }
  free(a);
}

/* ---- a flat JSON object of strings, integers and booleans ------------ */

struct sbuf {
  char *p;
  size_t len, cap;
  bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
  if (b->oom)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->cap ? b->cap * 2 : 128) + n;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
  sb_put(b, "\"", 1);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    char esc[8];
    if (ch == '"' || ch == '\\') {
      esc[0] = '\\';
      esc[1] = (char)ch;
      sb_put(b, esc, 2);
    } else if (ch < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", ch);
      sb_put(b, esc, 6);
    } else {
      sb_put(b, s, 1);
    }
  }
  sb_put(b, "\"", 1);
}

static char *alock_encode(const struct alock *a)
{
  struct sbuf b = {0};
  char num[32];
  sb_put(&b, "{\"client\":", 10);
  sb_str(&b, a->client);
  sb_put(&b, ",\"cookie\":", 10);
  sb_str(&b, a->cookie);
  sb_put(&b, ",\"tag\":", 7);
  sb_str(&b, a->tag);
  sb_put(&b, ",\"exclusive\":", 13);
  sb_put(&b, a->exclusive ? "true" : "false", a->exclusive ? 4 : 5);
  int n = snprintf(num, sizeof num, ",\"pid\":%" PRId64, a->pid);
  sb_put(&b, num, (size_t)n);
  n = snprintf(num, sizeof num, ",\"time\":%" PRId64, a->time);
  sb_put(&b, num, (size_t)n);
  sb_put(&b, ",\"desc\":", 8);
  sb_str(&b, a->desc);
  sb_put(&b, "}", 1);
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  return b.p;
}

static const char *skip_ws(const char *p)
{
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    p++;
  return p;
}

/* A JSON string at P (after its quote) into *OUT; NULL if malformed. */
static const char *parse_str(const char *p, char **out)
{
  struct sbuf b = {0};
  sb_put(&b, "", 0);
  for (; *p && *p != '"'; p++) {
    if (*p != '\\') {
      sb_put(&b, p, 1);
      continue;
    }
    p++;
    char ch;
    switch (*p) {
    case '"': case '\\': case '/': ch = *p; break;
    case 'n': ch = '\n'; break;
    case 't': ch = '\t'; break;
    case 'r': ch = '\r'; break;
    case 'b': ch = '\b'; break;
    case 'f': ch = '\f'; break;
    case 'u': {
      unsigned v;
      if (sscanf(p + 1, "%4x", &v) != 1 || v > 0x7f) {
        free(b.p);
        return NULL;
      }
      ch = (char)v;
      p += 4;
      break;
    }
    default:
      free(b.p);
      return NULL;
    }
    sb_put(&b, &ch, 1);
  }
  if (*p != '"' || b.oom) {
    free(b.p);
    return NULL;
  }
  *out = b.p;
  return p + 1;
}

static int alock_decode(const char *key, const char *text, struct alock *a)
{
  memset(a, 0, sizeof *a);
  const char *p = skip_ws(text);
  if (*p++ != '{')
    goto bad;
  for (;;) {
    p = skip_ws(p);
    if (*p == '}' && !a->client)
      break;
    char *name = NULL, *sval = NULL;
    if (*p != '"' || !(p = parse_str(p + 1, &name)))
      goto bad;
    p = skip_ws(p);
    if (*p++ != ':') {
      free(name);
      goto bad;
    }
    p = skip_ws(p);
    int64_t ival = 0;
    bool bval = false;
    if (*p == '"') {
      if (!(p = parse_str(p + 1, &sval))) {
        free(name);
        goto bad;
      }
    } else if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0) {
      bval = *p == 't';
      p += bval ? 4 : 5;
    } else {
      char *end;
      ival = strtoll(p, &end, 10);
      if (end == p) {
        free(name);
        goto bad;
      }
      p = end;
    }
    char **slot = strcmp(name, "client") == 0   ? &a->client
                  : strcmp(name, "cookie") == 0 ? &a->cookie
                  : strcmp(name, "tag") == 0    ? &a->tag
                  : strcmp(name, "desc") == 0   ? &a->desc
                                                : NULL;
    if (slot && sval && !*slot) {
      *slot = sval;
      sval = NULL;
    } else if (strcmp(name, "exclusive") == 0) {
      a->exclusive = bval;
    } else if (strcmp(name, "pid") == 0) {
      a->pid = ival;
    } else if (strcmp(name, "time") == 0) {
      a->time = ival;
    }
    free(name);
    free(sval);
    p = skip_ws(p);
    if (*p == ',') {
      p++;
      continue;
    }
    if (*p == '}')
      break;
    goto bad;
  }
  if (!a->client || !a->cookie)
    goto bad;
  if (!a->tag && !(a->tag = strdup("")))
    goto bad;
  if (!a->desc && !(a->desc = strdup("")))
    goto bad;
  return 0;
bad:
  free(a->client);
  free(a->cookie);
  free(a->tag);
  free(a->desc);
  memset(a, 0, sizeof *a);
  return lbd_error(EIO, "advisory lock entry %s of the image header is "
                   "damaged", key);
}

/* ---- reading and changing the entries -------------------------------- */

/* The header's version and its advisory lock entries. */
static int alock_read(struct lbd_image *img, uint64_t *version,
                      struct alock **out, size_t *count)
{
  struct objstore_stat st;
  *out = NULL;
  *count = 0;
  int r = objstore_stat(img->io->pool, img->header_oid, OBJSTORE_SNAP_HEAD,
                        &st);
  if (r == -ENOENT)
    return lbd_error(ENOENT, "image %s was removed", img->name);
  if (r < 0)
    return r;
  *version = st.version;
  struct alock *a = NULL;
  size_t n = 0, cap = 0;
  char after[OBJSTORE_MAX_OMAP_KEY + 1] = ALOCK_PREFIX;
  size_t plen = strlen(ALOCK_PREFIX);
  bool more = true;
  while (r == 0 && more) {
    struct objstore_kv *kvs;
    size_t nkv;
    if ((r = objstore_omap_get(img->io->pool, img->header_oid, after, 64,
                               &kvs, &nkv, &more)) < 0)
      break;
    for (size_t i = 0; r == 0 && i < nkv; i++) {
      if (strncmp(kvs[i].key, ALOCK_PREFIX, plen) != 0) {
        more = false;
        break;
      }
      if (n == cap) {
        cap = cap ? cap * 2 : 8;
        struct alock *p = realloc(a, cap * sizeof *p);
        if (!p) {
          r = lbd_error(ENOMEM, "out of memory");
          break;
        }
        a = p;
      }
      if ((r = alock_decode(kvs[i].key, kvs[i].value, &a[n])) == 0)
        n++;
    }
    if (nkv)
      snprintf(after, sizeof after, "%s", kvs[nkv - 1].key);
    objstore_kv_free(kvs, nkv);
  }
  if (r < 0) {
    alock_free(a, n);
    return r;
  }
  *out = a;
  *count = n;
  return 0;
}

static int alock_key(const char *client, const char *cookie, char *buf,
                     size_t size)
{
  int n = snprintf(buf, size, ALOCK_PREFIX "%s %s", client, cookie);
  if (n < 0 || (size_t)n >= size)
    return lbd_error(ENAMETOOLONG, "lock id is too long");
  return 0;
}

/* Set (A not NULL) or remove the entry of CLIENT/COOKIE if the header is
 * still at VERSION; ECANCELED if not. */
static int alock_write(struct lbd_image *img, uint64_t version,
                       const char *client, const char *cookie,
                       const struct alock *a)
{
  char key[OBJSTORE_MAX_OMAP_KEY + 1];
  int r = alock_key(client, cookie, key, sizeof key);
  if (r < 0)
    return r;
  char *value = NULL;
  if (a && !(value = alock_encode(a)))
    return lbd_error(ENOMEM, "out of memory");
  struct objstore_write_op *op = objstore_write_op_new();
  if (!op) {
    free(value);
    return lbd_error(ENOMEM, "out of memory");
  }
  objstore_write_op_assert_exists(op);
  objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, version);
  if (a)
    objstore_write_op_omap_set(op, key, value, strlen(value));
  else
    objstore_write_op_omap_rm(op, key);
  r = objstore_write_op_operate(img->io->pool, img->header_oid, op, NULL,
                                OBJSTORE_OP_FUA);
  objstore_write_op_free(op);
  free(value);
  if (r == -ENOENT)
    r = lbd_error(ENOENT, "image %s was removed", img->name);
  return r;
}

static int check_text(const char *what, const char *s, size_t max,
                      bool spaces_ok)
{
  if (!s || !*s)
    return lbd_error(EINVAL, "%s is empty", what);
  if (strlen(s) > max)
    return lbd_error(ENAMETOOLONG, "%s is longer than %zu bytes", what, max);
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p < 0x20 || (!spaces_ok && *p == ' '))
      return lbd_error(EINVAL, "%s \"%s\" may not contain %s", what, s,
                       spaces_ok ? "control characters"
                                 : "spaces or control characters");
  return 0;
}

static const char *client_of(struct lbd_image *img)
{
  return objstore_cluster_client(img->io->cluster->os);
}

static int lock_take(struct lbd_image *img, const char *cookie,
                     const char *tag, bool exclusive)
{
  lbd_error_clear();
  const char *me = client_of(img);
  int r = check_text("lock id", cookie, OBJSTORE_MAX_COOKIE, true);
  if (r == 0 && !exclusive)
    r = check_text("lock tag", tag, OBJSTORE_MAX_COOKIE, true);
  if (r == 0 && img->read_only)
    r = lbd_error(EROFS, "image %s is open read-only", img->name);
  for (int attempt = 0; r == 0 && attempt < ALOCK_RETRIES; attempt++) {
    uint64_t version;
    struct alock *a;
    size_t n;
    if ((r = alock_read(img, &version, &a, &n)) < 0)
      break;
    for (size_t i = 0; r == 0 && i < n; i++) {
      if (strcmp(a[i].client, me) == 0 && strcmp(a[i].cookie, cookie) == 0)
        r = lbd_error(EEXIST, "this client (%s) already holds lock %s", me,
                      cookie);
      else if (exclusive || a[i].exclusive)
        r = lbd_error(EBUSY, "image %s is already locked%s by %s (lock id "
                      "%s)", img->name, a[i].exclusive ? " exclusively" : "",
                      a[i].client, a[i].cookie);
      else if (strcmp(a[i].tag, tag) != 0)
        r = lbd_error(EBUSY, "image %s is already locked by %s (lock id %s) "
                      "with a different tag (%s)", img->name, a[i].client,
                      a[i].cookie, a[i].tag);
    }
    alock_free(a, n);
    if (r < 0)
      break;
    struct alock mine = {(char *)me, (char *)cookie,
                         (char *)(exclusive ? "" : tag), (char *)"",
                         exclusive, (int64_t)getpid(), (int64_t)time(NULL)};
    r = alock_write(img, version, me, cookie, &mine);
    if (r == -ECANCELED) {
      lbd_error_clear();
      r = 0;
      continue;
    }
    if (r == 0)
      return 0;
  }
  if (r == 0)
    r = lbd_error(EAGAIN, "the header of image %s keeps changing", img->name);
  return lbd_error_prefix(r, "locking image %s", img->name);
}

int lbd_lock_exclusive(lbd_image_t *image, const char *cookie)
{
  return lock_take(image, cookie, NULL, true);
}

int lbd_lock_shared(lbd_image_t *image, const char *cookie, const char *tag)
{
  return lock_take(image, cookie, tag, false);
}

/* Remove the entry of CLIENT/COOKIE. */
static int lock_drop(struct lbd_image *img, const char *client,
                     const char *cookie, const char *what)
{
  int r = 0;
  for (int attempt = 0; r == 0 && attempt < ALOCK_RETRIES; attempt++) {
    uint64_t version;
    struct alock *a;
    size_t n;
    if ((r = alock_read(img, &version, &a, &n)) < 0)
      break;
    bool found = false;
    for (size_t i = 0; i < n; i++)
      found |= strcmp(a[i].client, client) == 0 &&
               strcmp(a[i].cookie, cookie) == 0;
    alock_free(a, n);
    if (!found) {
      r = lbd_error(ENOENT, "image %s has no lock %s held by %s", img->name,
                    cookie, client);
      break;
    }
    r = alock_write(img, version, client, cookie, NULL);
    if (r == -ECANCELED) {
      lbd_error_clear();
      r = 0;
      continue;
    }
    if (r == 0)
      return 0;
  }
  if (r == 0)
    r = lbd_error(EAGAIN, "the header of image %s keeps changing", img->name);
  return lbd_error_prefix(r, "%s", what);
}

int lbd_unlock(lbd_image_t *image, const char *cookie)
{
  lbd_error_clear();
  int r = check_text("lock id", cookie, OBJSTORE_MAX_COOKIE, true);
  if (r == 0 && image->read_only)
    r = lbd_error(EROFS, "image %s is open read-only", image->name);
  if (r < 0)
    return lbd_error_prefix(r, "unlocking image %s", image->name);
  char what[IMAGE_MAX_NAME + 32];
  snprintf(what, sizeof what, "unlocking image %s", image->name);
  return lock_drop(image, client_of(image), cookie, what);
}

int lbd_break_lock(lbd_image_t *image, const char *client, const char *cookie)
{
  lbd_error_clear();
  int r = check_text("locker", client, 63, false);
  if (r == 0)
    r = check_text("lock id", cookie, OBJSTORE_MAX_COOKIE, true);
  if (r == 0 && image->read_only)
    r = lbd_error(EROFS, "image %s is open read-only", image->name);
  if (r < 0)
    return lbd_error_prefix(r, "breaking lock on image %s", image->name);
  char what[IMAGE_MAX_NAME + 32];
  snprintf(what, sizeof what, "breaking lock on image %s", image->name);
  return lock_drop(image, client, cookie, what);
}

int lbd_list_lockers(lbd_image_t *image, bool *exclusive, char **tag,
                     struct lbd_locker **lockers, size_t *count)
{
  lbd_error_clear();
  uint64_t version;
  struct alock *a;
  size_t n;
  *lockers = NULL;
  *count = 0;
  *exclusive = false;
  *tag = NULL;
  int r = alock_read(image, &version, &a, &n);
  if (r < 0)
    return lbd_error_prefix(r, "listing lockers of image %s", image->name);
  struct lbd_locker *l = calloc(n ? n : 1, sizeof *l);
  char *t = strdup(n ? a[0].tag : "");
  if (!l || !t) {
    free(l);
    free(t);
    alock_free(a, n);
    return lbd_error(ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n; i++) {
    l[i].client = a[i].client;
    l[i].cookie = a[i].cookie;
    l[i].time = a[i].time;
    a[i].client = a[i].cookie = NULL;
    char addr[40];
    snprintf(addr, sizeof addr, "pid %" PRId64, a[i].pid);
    if (!(l[i].address = strdup(addr)))
      r = lbd_error(ENOMEM, "out of memory");
    *exclusive = *exclusive || a[i].exclusive;
  }
  alock_free(a, n);
  if (r < 0) {
    lbd_lockers_free(t, l, n);
    return r;
  }
  *tag = t;
  *lockers = l;
  *count = n;
  return 0;
}

void lbd_lockers_free(char *tag, struct lbd_locker *lockers, size_t count)
{
  for (size_t i = 0; lockers && i < count; i++) {
    free(lockers[i].client);
    free(lockers[i].cookie);
    free(lockers[i].address);
  }
  free(lockers);
  free(tag);
}

const char *lbd_client_name(lbd_image_t *image)
{
  return client_of(image);
}
