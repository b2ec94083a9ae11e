/* Source-spec helpers. */
#ifndef LBD_SOURCE_SPEC_H
#define LBD_SOURCE_SPEC_H

/* The source-spec JSON text with every "access_key" and "secret_key" value
 * (at any depth, whatever its JSON type) replaced by "***", and the
 * password of any "url" (http://user:PASSWORD@host/...) too: compact JSON
 * with sorted keys, as `lbd status` prints it.  malloc'd; NULL if JSON is
 * not valid JSON (then nothing of it should be shown) or out of memory. */
char *source_spec_redacted(const char *json);

#endif
