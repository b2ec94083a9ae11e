/* Streams, inside: the per-type open functions, helpers shared by the
 * types (stream.c), and the HTTP transport that the http and s3 types share
 * (stream_http.c). */
#ifndef LBD_SOURCE_STREAM_INTERNAL_H
#define LBD_SOURCE_STREAM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source/stream.h"

/* ---- per-type open ---------------------------------------------------- */

int stream_file_open(const json_t *spec, lbd_cluster_t *cluster,
                     struct stream **out);
int stream_http_open(const json_t *spec, lbd_cluster_t *cluster,
                     struct stream **out);
int stream_nbd_open(const json_t *spec, lbd_cluster_t *cluster,
                    struct stream **out);
int stream_s3_open(const json_t *spec, lbd_cluster_t *cluster,
                   struct stream **out);

/* ---- helpers (stream.c) ----------------------------------------------- */

/* *OUT = SPEC[FIELD], a non-empty string (borrowed); EINVAL naming TYPE and
 * FIELD if it is missing or not a string.  With OPTIONAL, a missing field
 * gives 0 and *OUT = NULL. */
int stream_spec_string(const json_t *spec, const char *type,
                       const char *field, bool optional, const char **out);
/* The value of a key field: VALUE itself, or, for "config://PATH", the
 * value of PATH in CLUSTER's config-key store (trailing newlines dropped).
 * *OUT is malloc'd; the caller wipes and frees it (stream_secret_free).
 * Messages name FIELD and PATH, never a value. */
int stream_resolve_key(lbd_cluster_t *cluster, const char *type,
                       const char *field, const char *value, char **out);
void stream_secret_free(char *secret);
/* Fill the common part of a new stream. */
int stream_init(struct stream *s, const struct stream_ops *ops,
                const char *name, lbd_cluster_t *cluster);
/* Free what stream_init allocated (not S itself). */
void stream_fini(struct stream *s);

/* ---- HTTP transport (stream_http.c) ----------------------------------- */

struct curl_slist;

/* Signs one request: adds headers to *HDRS (Authorization etc.) and sets
 * options on H.  PATH is the URL's path (for signatures that name it). */
struct http_signer {
  int (*sign)(void *arg, void *curl_handle, const char *path,
              struct curl_slist **hdrs);
  void *arg;
};

struct http_client;

/* A client for URL (http or https).  NAME is used in messages (the URL
 * without a password).  SIGNER may be NULL; FOLLOW: follow redirects. */
int http_client_new(const char *url, const char *name,
                    const struct http_signer *signer, bool follow,
                    struct http_client **out);
/* The size of the resource; checks that the server honours Range. */
int http_client_probe(struct http_client *c, uint64_t *size);
/* Read [OFF, OFF+LEN) (inside the size) into BUF: exactly LEN bytes or an
 * error.  Thread-safe. */
int http_client_read(struct http_client *c, uint64_t off, size_t len,
                     void *buf);
void http_client_free(struct http_client *c);
/* URL of NAME resolved against BASE (malloc'd), EINVAL if it does not
 * parse, EACCES if it is on another scheme, host or port than BASE. */
int http_url_resolve(const char *base, const char *name, char **out);
/* URL with its password replaced by "***" (malloc'd), for messages. */
int http_url_redact(const char *url, char **out);
/* The path of URL (malloc'd), as sent in the request line. */
int http_url_path(const char *url, char **out);
/* curl_global_init, once. */
void http_global_init(void);

#endif
