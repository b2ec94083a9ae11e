/* Test peers: nginx and s3rver on 127.0.0.1 (see servers.h). */
#include "servers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S3RVER_BIN "/opt/lbd-test/s3rver/node_modules/.bin/s3rver"

int test_free_port(void)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

static int rm_cb(const char *path, const struct stat *st, int flag,
                 struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

void test_rmtree(const char *path)
{
  if (path && path[0])
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int test_mkdtemp(char *dir, const char *tag)
{
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, PATH_MAX, "%s/lbd-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp",
           tag);
  return mkdtemp(dir) ? 0 : -1;
}

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static bool port_open(int port)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

static bool sock_open(const char *path)
{
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof a.sun_path)
    return false;
  strcpy(a.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

/* Fork and exec ARGV with stdout/stderr to LOG; wait until PORT (or the
 * unix socket SRV->sock, if set) accepts connections (or the child dies,
 * or TIMEOUT_MS passes). */
static int spawn_and_wait(struct test_server *srv, char *const argv[],
                          const char *log, int timeout_ms)
{
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0)
      dup2(nul, 0);
    setpgid(0, 0);
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  srv->pid = pid;
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      srv->pid = 0;
      return -1;
    }
    if (srv->sock[0] ? sock_open(srv->sock) : port_open(srv->port))
      return 0;
    sleep_ms(20);
  }
  return -1;
}

static void dump_log(const char *what, const char *log)
{
  fprintf(stderr, "%s did not start; its log (%s):\n", what, log);
  FILE *f = fopen(log, "r");
  if (!f)
    return;
  char line[512];
  for (int i = 0; i < 40 && fgets(line, sizeof line, f); i++)
    fputs(line, stderr);
  fclose(f);
}

static int nginx_try(struct test_server *srv, const char *root,
                     const char *extra, int port)
{
  srv->port = port ? port : test_free_port();
  if (srv->port < 0)
    return -1;
  snprintf(srv->url, sizeof srv->url, "http://127.0.0.1:%d", srv->port);
  char conf[PATH_MAX + 16], log[PATH_MAX + 16];
  snprintf(conf, sizeof conf, "%s/nginx.conf", srv->dir);
  snprintf(log, sizeof log, "%s/error.log", srv->dir);
  FILE *f = fopen(conf, "w");
  if (!f)
    return -1;
  const char *d = srv->dir;
  fprintf(f,
          "daemon off;\nmaster_process off;\nworker_processes 1;\n"
          "pid %s/nginx.pid;\nerror_log %s/error.log warn;\n"
          "events { worker_connections 1024; }\n"
          "http {\n  access_log off;\n  default_type application/octet-stream;\n"
          "  client_body_temp_path %s/t1;\n  proxy_temp_path %s/t2;\n"
          "  fastcgi_temp_path %s/t3;\n  uwsgi_temp_path %s/t4;\n"
          "  scgi_temp_path %s/t5;\n  keepalive_requests 100000;\n"
          "  server {\n    listen 127.0.0.1:%d;\n    root %s;\n"
          "    location / { }\n    %s\n  }\n}\n",
          d, d, d, d, d, d, d, srv->port, root, extra ? extra : "");
  fclose(f);
  char *argv[] = {"/usr/sbin/nginx", "-e", log, "-p", srv->dir, "-c", conf,
                  NULL};
  if (access(argv[0], X_OK) != 0) {
    fprintf(stderr, "nginx is not installed (/usr/sbin/nginx): run "
                    "scripts/install-deps.sh\n");
    return -1;
  }
  int r = spawn_and_wait(srv, argv, log, 5000);
  if (r < 0)
    dump_log("nginx", log);
  return r;
}

int test_nginx_start(struct test_server *srv, const char *root,
                     const char *extra)
{
  memset(srv, 0, sizeof *srv);
  if (test_mkdtemp(srv->dir, "nginx") < 0)
    return -1;
  for (int i = 0; i < 3; i++) { /* the free port may be taken meanwhile */
    if (nginx_try(srv, root, extra, 0) == 0)
      return 0;
    test_server_stop(srv);
    if (test_mkdtemp(srv->dir, "nginx") < 0)
      return -1;
  }
  test_server_stop(srv);
  return -1;
}

int test_nginx_restart(struct test_server *srv, const char *root,
                       const char *extra)
{
  int port = srv->port;
  test_server_stop(srv);
  memset(srv, 0, sizeof *srv);
  if (test_mkdtemp(srv->dir, "nginx") < 0)
    return -1;
  for (int i = 0; i < 50; i++) { /* the old socket may linger a moment */
    if (nginx_try(srv, root, extra, port) == 0)
      return 0;
    sleep_ms(100);
  }
  return -1;
}

int test_qemu_nbd_start(struct test_server *srv, const char *file,
                        const char *fmt, const char *export, bool tcp)
{
  memset(srv, 0, sizeof *srv);
  if (access("/usr/bin/qemu-nbd", X_OK) != 0) {
    fprintf(stderr, "qemu-nbd is not installed: run scripts/install-deps.sh\n");
    return -1;
  }
  for (int i = 0; i < 3; i++) {
    if (test_mkdtemp(srv->dir, "nbd") < 0)
      return -1;
    char log[PATH_MAX + 16], port[16], fmtopt[64];
    snprintf(log, sizeof log, "%s/qemu-nbd.log", srv->dir);
    snprintf(fmtopt, sizeof fmtopt, "--format=%s", fmt);
    char *argv[16];
    int n = 0;
    argv[n++] = "/usr/bin/qemu-nbd";
    argv[n++] = "--read-only";
    argv[n++] = "--persistent";
    argv[n++] = "--shared=8";
    argv[n++] = fmtopt;
    argv[n++] = "--export-name";
    argv[n++] = (char *)export;
    if (tcp) {
      srv->port = test_free_port();
      snprintf(port, sizeof port, "%d", srv->port);
      argv[n++] = "--bind=127.0.0.1";
      argv[n++] = "--port";
      argv[n++] = port;
      snprintf(srv->uri, sizeof srv->uri, "nbd://127.0.0.1:%d/%s", srv->port,
               export);
    } else {
      snprintf(srv->sock, sizeof srv->sock, "%s/nbd.sock", srv->dir);
      argv[n++] = "--socket";
      argv[n++] = srv->sock;
      snprintf(srv->uri, sizeof srv->uri, "nbd+unix:///%s?socket=%s", export,
               srv->sock);
    }
    argv[n++] = (char *)file;
    argv[n] = NULL;
    if (spawn_and_wait(srv, argv, log, 10000) == 0)
      return 0;
    dump_log("qemu-nbd", log);
    test_server_stop(srv);
  }
  return -1;
}

int test_s3rver_start(struct test_server *srv)
{
  memset(srv, 0, sizeof *srv);
  if (access(S3RVER_BIN, X_OK) != 0) {
    fprintf(stderr, "s3rver is not installed (%s): run "
                    "scripts/install-deps.sh\n", S3RVER_BIN);
    return -1;
  }
  for (int i = 0; i < 3; i++) {
    if (test_mkdtemp(srv->dir, "s3rver") < 0)
      return -1;
    srv->port = test_free_port();
    snprintf(srv->url, sizeof srv->url, "http://127.0.0.1:%d", srv->port);
    char data[PATH_MAX + 8], log[PATH_MAX + 16], port[16];
    snprintf(data, sizeof data, "%s/data", srv->dir);
    snprintf(log, sizeof log, "%s/s3rver.log", srv->dir);
    snprintf(port, sizeof port, "%d", srv->port);
    mkdir(data, 0700);
    char *argv[] = {S3RVER_BIN, "-d", data, "-a", "127.0.0.1", "-p", port,
                    "--silent", NULL};
    if (spawn_and_wait(srv, argv, log, 15000) == 0)
      return 0;
    dump_log("s3rver", log);
    test_server_stop(srv);
  }
  return -1;
}

void test_server_stop(struct test_server *srv)
{
  if (srv->pid > 0) {
    /* the server leads its own process group; it is not reaped yet, so
     * the group id is still ours */
    kill(-srv->pid, SIGTERM);
    int status;
    bool gone = false;
    for (int i = 0; i < 150 && !gone; i++) {
      if (waitpid(srv->pid, &status, WNOHANG) == srv->pid)
        gone = true;
      else
        sleep_ms(20);
    }
    if (!gone) {
      kill(-srv->pid, SIGKILL);
      waitpid(srv->pid, &status, 0);
    }
    srv->pid = 0;
  }
  test_rmtree(srv->dir);
  srv->dir[0] = '\0';
}
