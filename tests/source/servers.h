/* Test peers started on 127.0.0.1 for the source tests: nginx (HTTP) and
 * s3rver (S3), each in its own temporary directory, killed with the test
 * process (PR_SET_PDEATHSIG) if it dies first. */
#ifndef LBD_TESTS_SOURCE_SERVERS_H
#define LBD_TESTS_SOURCE_SERVERS_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct test_server {
  pid_t pid;
  int port;
  char dir[PATH_MAX]; /* the server's temporary directory */
  char url[64];       /* http://127.0.0.1:PORT */
  char sock[PATH_MAX + 16]; /* a unix socket it listens on, or "" */
  char uri[PATH_MAX + 64];  /* qemu-nbd: its NBD URI */
};

/* A TCP port on 127.0.0.1 that nothing listens on (now). */
int test_free_port(void);
/* nginx serving ROOT at /; EXTRA is added inside its server block (may be
 * NULL), e.g. "location /norange/ { max_ranges 0; }".  0 or -1 with a
 * message on stderr. */
int test_nginx_start(struct test_server *srv, const char *root,
                     const char *extra);
/* nginx again on SRV's port (after test_server_stop), serving ROOT. */
int test_nginx_restart(struct test_server *srv, const char *root,
                       const char *extra);
/* qemu-nbd serving FILE (format FMT: qcow2, vmdk, raw...) read-only as
 * export EXPORT, on a unix socket (TCP false) or on 127.0.0.1 (TCP true);
 * SRV->uri is nbd+unix:///EXPORT?socket=... or nbd://127.0.0.1:PORT/EXPORT. */
int test_qemu_nbd_start(struct test_server *srv, const char *file,
                        const char *fmt, const char *export, bool tcp);
/* s3rver (/opt/lbd-test/s3rver) with its data in a temporary directory;
 * its keys are S3RVER / S3RVER. */
int test_s3rver_start(struct test_server *srv);
/* Stop the server (SIGTERM, then SIGKILL) and remove its directory. */
void test_server_stop(struct test_server *srv);
/* rm -rf PATH. */
void test_rmtree(const char *path);
/* A new temporary directory in *DIR (PATH_MAX bytes): 0 or -1. */
int test_mkdtemp(char *dir, const char *tag);

#endif
