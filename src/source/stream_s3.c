/* The "s3" stream: an object read with signed Range GETs over the HTTP
 * transport (path-style URLs: http[s]://HOST[:PORT]/BUCKET/KEY).
 *
 * Signature V4 (the default) is libcurl's CURLOPT_AWS_SIGV4; libcurl 7.88
 * sends no x-amz-content-sha256 header of its own, which radosgw and
 * s3rver require, so we send one (the hash of the empty body) and libcurl
 * signs it and uses its value as the payload hash.  Signature V2
 * ("signature_version": 2, for old gateways) is HMAC-SHA1 by OpenSSL.
 * The keys live only in this struct (wiped on close); messages say "***". */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "source/stream_internal.h"
#include "util/error.h"

#define S3_EMPTY_SHA256 \
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3_stream {
  struct stream s; /* first */
  struct http_client *client;
  char *url;
  char *access;
  char *secret;
  char *region;
  int sigver; /* 2 or 4 */
  char *sigv4_param; /* "aws:amz:REGION:s3" */
};

static int s3_append(struct curl_slist **hdrs, const char *h)
{
  struct curl_slist *t = curl_slist_append(*hdrs, h);
  if (!t)
    return lbd_error(ENOMEM, "s3 stream: out of memory");
  *hdrs = t;
  return 0;
}

static int s3_sign_v4(struct s3_stream *st, CURL *h,
                      struct curl_slist **hdrs)
{
  curl_easy_setopt(h, CURLOPT_AWS_SIGV4, st->sigv4_param);
  curl_easy_setopt(h, CURLOPT_USERNAME, st->access);
  curl_easy_setopt(h, CURLOPT_PASSWORD, st->secret);
  return s3_append(hdrs, "x-amz-content-sha256: " S3_EMPTY_SHA256);
}

static int s3_sign_v2(struct s3_stream *st, const char *path,
                      struct curl_slist **hdrs)
{
  char date[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  size_t n = strlen(path) + 128;
  char *sts = malloc(n);
  if (!sts)
    return lbd_error(ENOMEM, "s3 stream: out of memory");
  /* with x-amz-date, the Date line of the string to sign stays empty */
  snprintf(sts, n, "GET\n\n\n\nx-amz-date:%s\n%s", date, path);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  unsigned char *ok =
      HMAC(EVP_sha1(), st->secret, (int)strlen(st->secret),
           (const unsigned char *)sts, strlen(sts), mac, &maclen);
  free(sts);
  if (!ok)
    return lbd_error(EIO, "%s: cannot compute the signature", st->s.name);
  unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  EVP_EncodeBlock(b64, mac, (int)maclen);
  size_t alen = strlen(st->access) + sizeof b64 + 32;
  char *auth = malloc(alen);
  if (!auth)
    return lbd_error(ENOMEM, "s3 stream: out of memory");
  snprintf(auth, alen, "Authorization: AWS %s:%s", st->access, b64);
  char dh[96];
  snprintf(dh, sizeof dh, "x-amz-date: %s", date);
  int r = s3_append(hdrs, dh);
  if (r == 0)
    r = s3_append(hdrs, auth);
  free(auth);
  return r;
}

static int s3_sign(void *arg, void *curl_handle, const char *path,
                   struct curl_slist **hdrs)
{
  struct s3_stream *st = arg;
  if (st->sigver == 2)
    return s3_sign_v2(st, path, hdrs);
  return s3_sign_v4(st, curl_handle, hdrs);
}

static ssize_t s3_read(struct stream *s, uint64_t off, size_t len, void *buf)
{
  struct s3_stream *st = (struct s3_stream *)s;
  if (off >= s->size)
    return 0;
  if (len > s->size - off)
    len = (size_t)(s->size - off);
  int r = http_client_read(st->client, off, len, buf);
  return r < 0 ? r : (ssize_t)len;
}

static void s3_close(struct stream *s)
{
  struct s3_stream *st = (struct s3_stream *)s;
  http_client_free(st->client);
  free(st->url);
  stream_secret_free(st->access);
  stream_secret_free(st->secret);
  free(st->region);
  free(st->sigv4_param);
  stream_fini(s);
  free(st);
}

static int s3_open_parts(const char *url, const char *access,
                         const char *secret, const char *region, int sigver,
                         lbd_cluster_t *cluster, struct stream **out);

static int s3_open_relative(const struct stream *base, const char *name,
                            struct stream **out)
{
  const struct s3_stream *st = (const struct s3_stream *)base;
  char *url;
  int r = http_url_resolve(st->url, name, &url);
  if (r < 0)
    return lbd_error_prefix(r, "%s", base->name);
  r = s3_open_parts(url, st->access, st->secret, st->region, st->sigver,
                    base->cluster, out);
  free(url);
  return r;
}

static const struct stream_ops s3_ops = {
  .read = s3_read,
  .close = s3_close,
  .open_relative = s3_open_relative,
};

static int s3_open_parts(const char *url, const char *access,
                         const char *secret, const char *region, int sigver,
                         lbd_cluster_t *cluster, struct stream **out)
{
  *out = NULL;
  char *name;
  int r = http_url_redact(url, &name);
  if (r < 0)
    return lbd_error_prefix(r, "s3 stream");
  struct s3_stream *st = calloc(1, sizeof *st);
  if (!st) {
    free(name);
    return lbd_error(ENOMEM, "s3 stream: out of memory");
  }
  r = stream_init(&st->s, &s3_ops, name, cluster);
  if (r < 0) {
    free(st);
    free(name);
    return r;
  }
  st->sigver = sigver;
  st->url = strdup(url);
  st->access = strdup(access);
  st->secret = strdup(secret);
  st->region = strdup(region);
  size_t n = strlen(region) + 16;
  st->sigv4_param = malloc(n);
  if (!st->url || !st->access || !st->secret || !st->region ||
      !st->sigv4_param) {
    r = lbd_error(ENOMEM, "s3 stream: out of memory");
  } else {
    snprintf(st->sigv4_param, n, "aws:amz:%s:s3", region);
    struct http_signer signer = {s3_sign, st};
    /* no redirects: a signature holds for one host only */
    r = http_client_new(url, name, &signer, false, &st->client);
  }
  if (r == 0)
    r = http_client_probe(st->client, &st->s.size);
  free(name);
  if (r < 0) {
    s3_close(&st->s);
    return r;
  }
  *out = &st->s;
  return 0;
}

int stream_s3_open(const json_t *spec, lbd_cluster_t *cluster,
                   struct stream **out)
{
  *out = NULL;
  const char *url, *access_v, *secret_v, *region;
  int r = stream_spec_string(spec, "s3", "url", false, &url);
  if (r == 0)
    r = stream_spec_string(spec, "s3", "access_key", false, &access_v);
  if (r == 0)
    r = stream_spec_string(spec, "s3", "secret_key", false, &secret_v);
  if (r == 0)
    r = stream_spec_string(spec, "s3", "region", true, &region);
  if (r < 0)
    return r;
  if (!region)
    region = "us-east-1";
  for (const char *p = region; *p; p++)
    if (*p == ':' || *p < ' ')
      return lbd_error(EINVAL, "s3 stream: field \"region\" is not valid");
  int sigver = 4;
  json_t *sv = json_object_get(spec, "signature_version");
  if (sv) {
    if (json_is_integer(sv))
      sigver = (int)json_integer_value(sv);
    else if (json_is_string(sv) && json_string_length(sv) == 1)
      sigver = json_string_value(sv)[0] - '0';
    else
      sigver = -1;
    if (sigver != 2 && sigver != 4)
      return lbd_error(EINVAL,
                       "s3 stream: field \"signature_version\" must be 2 "
                       "or 4");
  }
  char *access = NULL, *secret = NULL;
  r = stream_resolve_key(cluster, "s3", "access_key", access_v, &access);
  if (r == 0)
    r = stream_resolve_key(cluster, "s3", "secret_key", secret_v, &secret);
  if (r == 0 && strchr(access, ':'))
    r = lbd_error(EINVAL, "s3 stream: access_key *** holds a ':'");
  if (r == 0)
    r = s3_open_parts(url, access, secret, region, sigver, cluster, out);
  stream_secret_free(access);
  stream_secret_free(secret);
  return r;
}
