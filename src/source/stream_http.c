/* The HTTP transport (shared with s3) and the "http" stream.
 *
 * Every read is one Range GET on a CURL easy handle taken from the client's
 * pool (several threads read at once, each on its own keep-alive
 * connection).  Responses are never trusted: the body is copied into the
 * caller's buffer only within its bounds (a server that sends more aborts
 * the transfer at once), Content-Length is ignored, and a 206 must carry a
 * Content-Range that matches what was asked.  Transient failures (5xx, 408,
 * 429, timeouts, cut connections, a short body) are retried with backoff. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "source/stream_internal.h"
#include "util/error.h"

#define HTTP_MAX_IDLE 64       /* easy handles kept for reuse */
#define HTTP_ATTEMPTS 6        /* tries of one request (transient errors) */
#define HTTP_BACKOFF_MS 100    /* first wait between tries, doubled each */
#define HTTP_CONNECT_TIMEOUT 10
#define HTTP_STALL_SECONDS 30  /* abort a transfer idle for this long */
#define HTTP_ERRBODY_MAX 1024  /* kept of an error response's body */
/* libcurl's receive buffer: its default (16 KiB) costs a poll and a recv
 * per 16 KiB, which on a busy 2-CPU machine held an import from nginx
 * to a quarter of curl's speed; 512 KiB makes it 32 times fewer. */
#define HTTP_RECV_BUFFER (512L * 1024)

struct http_client {
  char *url;
  char *name;
  char *path;
  struct http_signer signer;
  bool has_signer;
  bool follow;
  uint64_t size; /* as probed */
  pthread_mutex_t lock;
  CURL *idle[HTTP_MAX_IDLE];
  size_t n_idle;
};

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static void http_global_init_once(void) { curl_global_init(CURL_GLOBAL_ALL); }
void http_global_init(void) { pthread_once(&http_once, http_global_init_once); }

/* ---- one request ------------------------------------------------------ */

struct http_req {
  /* in */
  char *buf;
  size_t cap;
  /* out */
  long status;
  size_t got;
  bool overflow;
  bool crange;              /* a parsable Content-Range was seen */
  bool crange_unsat;        /* "bytes * /TOTAL" */
  uint64_t cr_first, cr_last, cr_total;
  bool cr_total_known;
  char errbody[HTTP_ERRBODY_MAX];
  size_t errlen;
  char curl_err[CURL_ERROR_SIZE];
  CURLcode rc;
  long os_errno;
};

static bool is_2xx(long status) { return status >= 200 && status < 300; }

static size_t http_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
  struct http_req *q = arg;
  size_t n = size * nmemb;
  if (!is_2xx(q->status)) {
    /* an error page: keep its start for the message, drop the rest */
    size_t room = sizeof q->errbody - 1 - q->errlen;
    size_t k = n < room ? n : room;
    memcpy(q->errbody + q->errlen, data, k);
    q->errlen += k;
    q->errbody[q->errlen] = '\0';
    return n;
  }
  if (n > q->cap - q->got) {
    q->overflow = true;
    return 0; /* CURLE_WRITE_ERROR: stop the transfer now */
  }
  memcpy(q->buf + q->got, data, n);
  q->got += n;
  return n;
}

/* Parse "bytes FIRST-LAST/TOTAL", "bytes FIRST-LAST/ *" or "bytes * /TOTAL"
 * (without the spaces around the star). */
static void parse_content_range(struct http_req *q, const char *v)
{
  char *end;
  while (*v == ' ' || *v == '\t')
    v++;
  if (strncasecmp(v, "bytes", 5) != 0)
    return;
  v += 5;
  while (*v == ' ' || *v == '\t')
    v++;
  bool unsat = false;
  uint64_t first = 0, last = 0;
  if (*v == '*') {
    unsat = true;
    v++;
  } else {
    if (*v < '0' || *v > '9')
      return;
    errno = 0;
    first = strtoull(v, &end, 10);
    if (errno || *end != '-')
      return;
    v = end + 1;
    if (*v < '0' || *v > '9')
      return;
    last = strtoull(v, &end, 10);
    if (errno || last < first)
      return;
    v = end;
  }
  if (*v != '/')
    return;
  v++;
  uint64_t total = 0;
  bool known = false;
  if (*v == '*') {
    if (unsat)
      return;
  } else {
    if (*v < '0' || *v > '9')
      return;
    errno = 0;
    total = strtoull(v, &end, 10);
    if (errno)
      return;
    known = true;
    if (!unsat && total == 0 && first == 0 && last == 0)
      unsat = true; /* "bytes 0-0/0": s3rver's answer for an empty object */
    else if (!unsat && last >= total)
      return;
  }
  q->crange = true;
  q->crange_unsat = unsat;
  q->cr_first = first;
  q->cr_last = last;
  q->cr_total = total;
  q->cr_total_known = known;
}

static size_t http_header_cb(char *data, size_t size, size_t nmemb,
                             void *arg)
{
  struct http_req *q = arg;
  size_t n = size * nmemb;
  char line[512];
  size_t k = n < sizeof line - 1 ? n : sizeof line - 1;
  memcpy(line, data, k);
  line[k] = '\0';
  while (k > 0 && (line[k - 1] == '\r' || line[k - 1] == '\n'))
    line[--k] = '\0';
  if (strncmp(line, "HTTP/", 5) == 0) {
    /* a new response (after a 100 or a redirect): forget the last one */
    const char *sp = strchr(line, ' ');
    q->status = sp ? strtol(sp + 1, NULL, 10) : 0;
    q->crange = q->crange_unsat = q->cr_total_known = false;
    q->got = 0;
    q->errlen = 0;
    q->errbody[0] = '\0';
    return n;
  }
  if (strncasecmp(line, "Content-Range:", 14) == 0)
    parse_content_range(q, line + 14);
  return n;
}

static CURL *http_handle_get(struct http_client *c)
{
  CURL *h = NULL;
  pthread_mutex_lock(&c->lock);
  if (c->n_idle > 0)
    h = c->idle[--c->n_idle];
  pthread_mutex_unlock(&c->lock);
  if (h)
    return h;
  h = curl_easy_init();
  if (!h)
    return NULL;
  curl_easy_setopt(h, CURLOPT_URL, c->url);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, c->follow ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 8L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)HTTP_CONNECT_TIMEOUT);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)HTTP_STALL_SECONDS);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_BUFFERSIZE, HTTP_RECV_BUFFER);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "lbd/0.1");
  curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  /* identity only: a compressed body would not be the bytes asked for */
  curl_easy_setopt(h, CURLOPT_HTTP_CONTENT_DECODING, 0L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write_cb);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, http_header_cb);
  return h;
}

static void http_handle_put(struct http_client *c, CURL *h, bool reuse)
{
  if (reuse) {
    pthread_mutex_lock(&c->lock);
    if (c->n_idle < HTTP_MAX_IDLE) {
      c->idle[c->n_idle++] = h;
      h = NULL;
    }
    pthread_mutex_unlock(&c->lock);
  }
  if (h)
    curl_easy_cleanup(h);
}

/* Run one GET of bytes FIRST..LAST into Q.  0, or a negative errno for a
 * failure before any response (out of memory, signing). */
static int http_perform(struct http_client *c, uint64_t first, uint64_t last,
                        struct http_req *q)
{
  CURL *h = http_handle_get(c);
  if (!h)
    return lbd_error(ENOMEM, "%s: cannot create a CURL handle", c->name);
  char range[64];
  snprintf(range, sizeof range, "%" PRIu64 "-%" PRIu64, first, last);
  struct curl_slist *hdrs = NULL;
  if (c->has_signer) {
    /* the signature covers the Range header: send it as a header */
    char rh[80];
    snprintf(rh, sizeof rh, "Range: bytes=%s", range);
    struct curl_slist *t = curl_slist_append(hdrs, rh);
    if (!t) {
      http_handle_put(c, h, true);
      return lbd_error(ENOMEM, "%s: out of memory", c->name);
    }
    hdrs = t;
    int r = c->signer.sign(c->signer.arg, h, c->path, &hdrs);
    if (r < 0) {
      curl_slist_free_all(hdrs);
      http_handle_put(c, h, true);
      return r;
    }
    curl_easy_setopt(h, CURLOPT_RANGE, NULL);
  } else {
    curl_easy_setopt(h, CURLOPT_RANGE, range);
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, q);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, q);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, q->curl_err);
  q->curl_err[0] = '\0';
  q->rc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &q->os_errno);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
  curl_slist_free_all(hdrs);
  /* a transfer stopped half-way leaves a connection we do not want */
  http_handle_put(c, h, q->rc == CURLE_OK);
  return 0;
}

static bool http_transient(const struct http_req *q)
{
  switch (q->rc) {
  case CURLE_OK:
    return q->status == 408 || q->status == 429 ||
           (q->status >= 500 && q->status != 501 && q->status != 505);
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return true;
  default:
    return false;
  }
}

/* The S3 error code in an XML error body, if any ("<Code>X</Code>"). */
static void errbody_code(const struct http_req *q, char *out, size_t n)
{
  out[0] = '\0';
  const char *b = strstr(q->errbody, "<Code>");
  if (!b)
    return;
  b += 6;
  const char *e = strstr(b, "</Code>");
  if (!e || (size_t)(e - b) >= n)
    return;
  for (const char *p = b; p < e; p++)
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
          (*p >= '0' && *p <= '9') || *p == '.' || *p == '_'))
      return;
  memcpy(out, b, (size_t)(e - b));
  out[e - b] = '\0';
}

/* The error for a failed request Q (not an overflow). */
static int http_fail(struct http_client *c, const struct http_req *q)
{
  if (q->rc != CURLE_OK) {
    const char *why = q->curl_err[0] ? q->curl_err : curl_easy_strerror(q->rc);
    switch (q->rc) {
    case CURLE_COULDNT_CONNECT: {
      int e = q->os_errno > 0 ? (int)q->os_errno : ECONNREFUSED;
      return lbd_error(e, "%s: cannot connect: %s (%s)", c->name,
                       strerror(e), why);
    }
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return lbd_error(EHOSTUNREACH, "%s: cannot resolve the host: %s",
                       c->name, why);
    case CURLE_OPERATION_TIMEDOUT:
      return lbd_error(ETIMEDOUT, "%s: timed out: %s", c->name, why);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return lbd_error(EINVAL, "%s: bad URL: %s", c->name, why);
    case CURLE_TOO_MANY_REDIRECTS:
      return lbd_error(ELOOP, "%s: too many redirects", c->name);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
      return lbd_error(EPROTO, "%s: TLS: %s", c->name, why);
    default:
      return lbd_error(EIO, "%s: %s", c->name, why);
    }
  }
  char code[64];
  errbody_code(q, code, sizeof code);
  char detail[96] = "";
  if (code[0])
    snprintf(detail, sizeof detail, ", %s", code);
  long st = q->status;
  if (st == 401 || st == 403)
    return lbd_error(EACCES, "%s: access denied (HTTP %ld%s)", c->name, st,
                     detail);
  if (st == 404 || st == 410)
    return lbd_error(ENOENT, "%s: not found (HTTP %ld%s)", c->name, st,
                     detail);
  if (st == 416)
    return lbd_error(EINVAL, "%s: range not satisfiable (HTTP 416%s)",
                     c->name, detail);
  return lbd_error(EIO, "%s: the server answered HTTP %ld%s", c->name, st,
                   detail);
}

static void http_sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* ---- the client ------------------------------------------------------- */

int http_client_new(const char *url, const char *name,
                    const struct http_signer *signer, bool follow,
                    struct http_client **out)
{
  http_global_init();
  *out = NULL;
  struct http_client *c = calloc(1, sizeof *c);
  if (!c)
    return lbd_error(ENOMEM, "%s: out of memory", name);
  c->url = strdup(url);
  c->name = strdup(name);
  if (!c->url || !c->name) {
    http_client_free(c);
    return lbd_error(ENOMEM, "%s: out of memory", name);
  }
  int r = http_url_path(url, &c->path);
  if (r < 0) {
    http_client_free(c);
    return r;
  }
  if (signer) {
    c->signer = *signer;
    c->has_signer = true;
  }
  c->follow = follow;
  pthread_mutex_init(&c->lock, NULL);
  *out = c;
  return 0;
}

void http_client_free(struct http_client *c)
{
  if (!c)
    return;
  for (size_t i = 0; i < c->n_idle; i++)
    curl_easy_cleanup(c->idle[i]);
  if (c->url)
    pthread_mutex_destroy(&c->lock);
  free(c->url);
  free(c->name);
  free(c->path);
  free(c);
}

/* A 206 "bytes 0-0/0" without a body: s3rver's answer for an empty
 * object (with a Content-Length of 1 that it does not send). */
static bool probe_empty(const struct http_req *q)
{
  return (q->rc == CURLE_OK || q->rc == CURLE_PARTIAL_FILE) &&
         q->status == 206 && q->crange && q->crange_unsat &&
         q->cr_total_known && q->cr_total == 0 && q->got == 0;
}

int http_client_probe(struct http_client *c, uint64_t *size)
{
  struct http_req *q = malloc(sizeof *q);
  if (!q)
    return lbd_error(ENOMEM, "%s: out of memory", c->name);
  /* bytes 0-1, not 0-0: s3rver 3.7 takes a range ending at 0 for an
   * open-ended one */
  char two[2];
  int r;
  long wait = HTTP_BACKOFF_MS;
  for (int attempt = 1;; attempt++) {
    memset(q, 0, sizeof *q);
    q->buf = two;
    q->cap = sizeof two;
    r = http_perform(c, 0, 1, q);
    if (r < 0)
      break;
    /* at open, a refused connection is an answer: no retry */
    bool again = http_transient(q) && q->rc != CURLE_COULDNT_CONNECT &&
                 !probe_empty(q);
    if (!again || attempt == HTTP_ATTEMPTS)
      break;
    http_sleep_ms(wait);
    wait *= 2;
  }
  if (r < 0) {
  } else if (probe_empty(q)) {
    *size = 0;
  } else if (q->overflow) {
    r = lbd_error(ENOTSUP,
                  "%s: the server ignores Range requests (it sent more "
                  "than the 2 bytes asked for); lbd needs a server that "
                  "honours Range",
                  c->name);
  } else if (q->rc != CURLE_OK) {
    r = http_fail(c, q);
  } else if (q->status == 206) {
    if (!q->crange || q->crange_unsat || q->cr_first != 0 ||
        q->cr_last > 1)
      r = lbd_error(EIO, "%s: HTTP 206 without a valid Content-Range",
                    c->name);
    else if (!q->cr_total_known)
      r = lbd_error(ENOTSUP, "%s: the server does not tell the size",
                    c->name);
    else if (q->got != q->cr_last + 1)
      r = lbd_error(EIO, "%s: HTTP 206 with %zu bytes for %u", c->name,
                    q->got, (unsigned)q->cr_last + 1);
    else
      *size = q->cr_total;
  } else if (q->status == 416 && q->crange && q->crange_unsat &&
             q->cr_total_known) {
    *size = q->cr_total; /* an empty resource */
  } else if (q->status == 200) {
    /* a whole body of at most two bytes: Range or not, that is all */
    *size = q->got;
  } else {
    r = http_fail(c, q);
  }
  if (r == 0)
    c->size = *size;
  free(q);
  return r;
}

int http_client_read(struct http_client *c, uint64_t off, size_t len,
                     void *buf)
{
  if (len == 0)
    return 0;
  if (off == 0 && len == 1 && c->size >= 2) {
    /* never a range ending at byte 0 (see http_client_probe) */
    char two[2];
    int r = http_client_read(c, 0, 2, two);
    if (r == 0)
      memcpy(buf, two, 1);
    return r;
  }
  struct http_req *q = malloc(sizeof *q);
  if (!q)
    return lbd_error(ENOMEM, "%s: out of memory", c->name);
  uint64_t last = off + len - 1;
  int r = 0;
  long wait = HTTP_BACKOFF_MS;
  for (int attempt = 1;; attempt++) {
    memset(q, 0, sizeof *q);
    q->buf = buf;
    q->cap = len;
    r = http_perform(c, off, last, q);
    if (r < 0)
      break;
    bool ok = false, again = false;
    if (q->rc == CURLE_OK && q->status == 206) {
      if (!q->crange || q->crange_unsat || q->cr_first != off ||
          q->cr_last != last) {
        r = lbd_error(EIO,
                      "%s: asked bytes %" PRIu64 "-%" PRIu64
                      ", got a response with another Content-Range",
                      c->name, off, last);
        break;
      }
      ok = q->got == len;
      again = !ok; /* a short body: the connection was cut */
    } else if (q->rc == CURLE_OK && q->status == 200 && off == 0 &&
               q->got == len) {
      ok = true; /* Range ignored, but the whole body was what we asked */
    } else if (q->overflow) {
      r = lbd_error(EIO,
                    "%s: the server sent more than the %zu bytes asked "
                    "for at %" PRIu64 " (Range ignored?)",
                    c->name, len, off);
      break;
    } else {
      again = http_transient(q);
    }
    if (ok) {
      r = 0;
      break;
    }
    if (!again || attempt == HTTP_ATTEMPTS) {
      if (q->rc == CURLE_OK && is_2xx(q->status))
        r = lbd_error(EIO,
                      "%s: short response at %" PRIu64 ": %zu of %zu bytes",
                      c->name, off, q->got, len);
      else
        r = http_fail(c, q);
      if (attempt > 1)
        lbd_error_prefix(r, "after %d tries", attempt);
      break;
    }
    http_sleep_ms(wait);
    wait *= 2;
  }
  free(q);
  return r;
}

/* ---- URLs ------------------------------------------------------------- */

static int url_error(CURLUcode uc, const char *what)
{
  if (uc == CURLUE_OUT_OF_MEMORY)
    return lbd_error(ENOMEM, "URL: out of memory");
  return lbd_error(EINVAL, "bad URL \"%.256s\": %s", what,
                   curl_url_strerror(uc));
}

/* CURLU for URL, checked to be http or https. */
static int url_parse(const char *url, CURLU **out)
{
  *out = NULL;
  CURLU *u = curl_url();
  if (!u)
    return lbd_error(ENOMEM, "URL: out of memory");
  CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
  if (uc) {
    curl_url_cleanup(u);
    /* do not echo a URL that may hold a password */
    if (uc == CURLUE_OUT_OF_MEMORY)
      return lbd_error(ENOMEM, "URL: out of memory");
    return lbd_error(EINVAL, "bad URL: %s", curl_url_strerror(uc));
  }
  char *scheme = NULL;
  curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
  bool ok = scheme && (strcasecmp(scheme, "http") == 0 ||
                       strcasecmp(scheme, "https") == 0);
  curl_free(scheme);
  if (!ok) {
    curl_url_cleanup(u);
    return lbd_error(EINVAL, "bad URL: the scheme must be http or https");
  }
  *out = u;
  return 0;
}

static int url_get(CURLU *u, CURLUPart part, char **out)
{
  char *s = NULL;
  CURLUcode uc = curl_url_get(u, part, &s, 0);
  if (uc)
    return url_error(uc, "");
  *out = strdup(s);
  curl_free(s);
  return *out ? 0 : lbd_error(ENOMEM, "URL: out of memory");
}

int http_url_redact(const char *url, char **out)
{
  CURLU *u;
  int r = url_parse(url, &u);
  if (r < 0)
    return r;
  char *pw = NULL;
  if (curl_url_get(u, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK && pw) {
    curl_free(pw);
    curl_url_set(u, CURLUPART_PASSWORD, "***", 0);
  }
  r = url_get(u, CURLUPART_URL, out);
  curl_url_cleanup(u);
  return r;
}

int http_url_path(const char *url, char **out)
{
  CURLU *u;
  int r = url_parse(url, &u);
  if (r < 0)
    return r;
  r = url_get(u, CURLUPART_PATH, out);
  curl_url_cleanup(u);
  return r;
}

/* Whether URLs A and B have the same scheme, host and port. */
static bool same_origin(CURLU *a, CURLU *b)
{
  static const CURLUPart parts[] = {CURLUPART_SCHEME, CURLUPART_HOST,
                                    CURLUPART_PORT};
  bool same = true;
  for (size_t i = 0; same && i < sizeof parts / sizeof *parts; i++) {
    char *x = NULL, *y = NULL;
    curl_url_get(a, parts[i], &x, CURLU_DEFAULT_PORT);
    curl_url_get(b, parts[i], &y, CURLU_DEFAULT_PORT);
    same = x && y && strcasecmp(x, y) == 0;
    curl_free(x);
    curl_free(y);
  }
  return same;
}

int http_url_resolve(const char *base, const char *name, char **out)
{
  CURLU *u;
  int r = url_parse(base, &u);
  if (r < 0)
    return r;
  CURLUcode uc = curl_url_set(u, CURLUPART_URL, name, 0);
  if (uc) {
    curl_url_cleanup(u);
    return url_error(uc, name);
  }
  r = url_get(u, CURLUPART_URL, out);
  CURLU *b = NULL, *chk = NULL;
  if (r == 0)
    r = url_parse(*out, &chk); /* still http or https */
  if (r == 0 && (r = url_parse(base, &b)) == 0 && !same_origin(b, chk))
    r = lbd_error(EACCES, "\"%s\" is on another server than the image "
                  "that names it: lbd follows backing files on the same "
                  "scheme, host and port only", name);
  curl_url_cleanup(b);
  curl_url_cleanup(chk);
  curl_url_cleanup(u);
  if (r < 0) {
    free(*out);
    *out = NULL;
  }
  return r;
}

/* ---- the "http" stream ------------------------------------------------ */

struct http_stream {
  struct stream s; /* first */
  struct http_client *client;
  char *url;
};

static ssize_t http_read(struct stream *s, uint64_t off, size_t len,
                         void *buf)
{
  struct http_stream *hs = (struct http_stream *)s;
  if (off >= s->size)
    return 0;
  if (len > s->size - off)
    len = (size_t)(s->size - off);
  int r = http_client_read(hs->client, off, len, buf);
  return r < 0 ? r : (ssize_t)len;
}

static void http_close(struct stream *s)
{
  struct http_stream *hs = (struct http_stream *)s;
  http_client_free(hs->client);
  free(hs->url);
  stream_fini(s);
  free(hs);
}

static int http_open_url(const char *url, lbd_cluster_t *cluster,
                         struct stream **out);

static int http_open_relative(const struct stream *base, const char *name,
                              struct stream **out)
{
  const struct http_stream *hs = (const struct http_stream *)base;
  char *url;
  int r = http_url_resolve(hs->url, name, &url);
  if (r < 0)
    return lbd_error_prefix(r, "%s", base->name);
  r = http_open_url(url, base->cluster, out);
  free(url);
  return r;
}

static const struct stream_ops http_ops = {
  .read = http_read,
  .close = http_close,
  .open_relative = http_open_relative,
};

static int http_open_url(const char *url, lbd_cluster_t *cluster,
                         struct stream **out)
{
  *out = NULL;
  char *name;
  int r = http_url_redact(url, &name);
  if (r < 0)
    return lbd_error_prefix(r, "http stream");
  struct http_stream *hs = calloc(1, sizeof *hs);
  if (!hs) {
    free(name);
    return lbd_error(ENOMEM, "http stream: out of memory");
  }
  r = stream_init(&hs->s, &http_ops, name, cluster);
  if (r < 0) {
    free(hs);
    free(name);
    return r;
  }
  hs->url = strdup(url);
  if (!hs->url)
    r = lbd_error(ENOMEM, "http stream: out of memory");
  if (r == 0)
    r = http_client_new(url, name, NULL, true, &hs->client);
  if (r == 0)
    r = http_client_probe(hs->client, &hs->s.size);
  free(name);
  if (r < 0) {
    http_close(&hs->s);
    return r;
  }
  *out = &hs->s;
  return 0;
}

int stream_http_open(const json_t *spec, lbd_cluster_t *cluster,
                     struct stream **out)
{
  const char *url;
  int r = stream_spec_string(spec, "http", "url", false, &url);
  if (r < 0)
    return r;
  return http_open_url(url, cluster, out);
}
