/* The commands of lbd: names, arguments, options and summaries, as rbd
 * names them.  `lbd help` renders its text from this table. */
#include <string.h>

#include "cli/cli.h"

#define IMAGE_SPEC_HELP                                                      \
  "image specification\n"                                                    \
  "(example: [<pool>/[<namespace>/]]<image>)"
#define SNAP_SPEC_HELP                                                       \
  "image or snapshot specification\n"                                        \
  "(example: [<pool>/[<namespace>/]]<image>[@<snap>])"
#define SPEC_OPTS {OPT_POOL, NULL}, {OPT_NAMESPACE, NULL}, {OPT_IMAGE, NULL}
#define FORMAT_OPTS {OPT_FORMAT, NULL}, {OPT_PRETTY, NULL}
#define LAYOUT_OPTS                                                          \
  {OPT_OBJECT_SIZE, NULL}, {OPT_ORDER, NULL}, {OPT_FEATURE, NULL},           \
  {OPT_STRIPE_UNIT, NULL}, {OPT_STRIPE_COUNT, NULL}, {OPT_DATA_POOL, NULL}

const struct command cli_commands[] = {
    {"bench", NULL, "Simple benchmark.",
     "Runs --io-total bytes of IO of --io-size each, from --io-threads\n"
     "threads, and prints the operations and bytes per second, every second\n"
     "and at the end.  Writes overwrite the image's data.",
     {{"<image-spec>", SNAP_SPEC_HELP, false}},
     {SPEC_OPTS, {OPT_SNAP, "snapshot name (--io-type read only)"},
      {OPT_IO_TYPE, "IO type (read or write) (required)"},
      {OPT_IO_SIZE, NULL}, {OPT_IO_THREADS, NULL}, {OPT_IO_TOTAL, NULL},
      {OPT_IO_PATTERN, NULL}, {OPT_NONE, NULL}},
     cmd_bench},
    {"children", NULL, "Display children of snapshot.",
     "Lists the clones of the snapshot as <pool>/[<namespace>/]<image>,\n"
     "including clones in the trash (shown by id).",
     {{"<snap-spec>", "snapshot specification\n"
       "(example: [<pool>/[<namespace>/]]<image>@<snap>)", false}},
     {SPEC_OPTS, {OPT_SNAP, NULL}, FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_children},
    {"clone", NULL, "Clone a snapshot into a CoW child image.",
     "The snapshot must be protected ('lbd snap protect').  The clone is\n"
     "usable at once: it reads its parent wherever it has no data of its\n"
     "own, and copies a parent object up on its first write there.  Its\n"
     "object size defaults to the parent's, its pool and namespace to the\n"
     "parent's.",
     {{"<parent-snap-spec>", "parent snapshot specification\n"
       "(example: [<pool>/[<namespace>/]]<image>@<snap>)", false},
      {"<child-image-spec>", "child image specification\n"
       "(example: [<pool>/[<namespace>/]]<image>)", false}},
     {{OPT_POOL, "parent pool name"}, {OPT_NAMESPACE, "parent namespace name"},
      {OPT_IMAGE, "parent image name"}, {OPT_SNAP, "parent snapshot name"},
      {OPT_DEST_POOL, "child pool name [default: the parent's]"},
      {OPT_DEST_NAMESPACE, "child namespace name [default: the parent's]"},
      {OPT_DEST, "child image name"}, LAYOUT_OPTS, {OPT_NONE, NULL}},
     cmd_clone},
    {"cp", "copy", "Copy src image to dest.",
     "The copy has the source's size and, unless options say otherwise, its\n"
     "layout and features.  Only the source's allocated data is read and\n"
     "written: holes stay holes.  On failure no copy is left.",
     {{"<source-image-or-snap-spec>", "source image or snapshot "
       "specification\n(example: [<pool>/[<namespace>/]]<image>[@<snap>])",
       false},
      {"<dest-image-spec>", "destination image specification\n"
       "(example: [<pool>/[<namespace>/]]<image>)", false}},
     {{OPT_POOL, "source pool name [default: rbd]"},
      {OPT_NAMESPACE, "source namespace name"},
      {OPT_IMAGE, "source image name"}, {OPT_SNAP, "source snapshot name"},
      {OPT_DEST_POOL, "destination pool name [default: the source's]"},
      {OPT_DEST_NAMESPACE, "destination namespace name [default: the "
       "source's]"},
      {OPT_DEST, NULL}, LAYOUT_OPTS, {OPT_NO_PROGRESS, NULL},
      {OPT_NONE, NULL}},
     cmd_cp},
    {"create", NULL, "Create an empty image.",
     "Only the data written later takes space: the image starts sparse.",
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS,
      {OPT_SIZE, "image size (in M/G/T) [default unit: M] (required)"},
      LAYOUT_OPTS, {OPT_NONE, NULL}},
     cmd_create},
    {"du", "disk-usage", "Show disk usage stats for pool, image or snapshot.",
     "PROVISIONED is the image size, USED the bytes its data takes (holes\n"
     "and never-written areas take none).  Without an image: every image\n"
     "of the pool (or namespace), and their total.",
     {{"<image-or-snap-spec>", "image or snapshot specification\n"
       "(example: [<pool>/[<namespace>/]]<image>[@<snap>])", true}},
     {SPEC_OPTS, {OPT_SNAP, NULL}, FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_du},
    {"export", NULL, "Export image to file.",
     "Writes the raw bytes of the image to a new file (it must not exist),\n"
     "or to stdout with '-'.  Zeroed areas become holes in a file.  With\n"
     "--export-format 2: rbd's format 2, with the layout, features, metadata\n"
     "and every snapshot (up to <snap> if given), which 'import\n"
     "--export-format 2' reads, lbd's or rbd's.",
     {{"<image-spec>", SNAP_SPEC_HELP, false},
      {"<path>", "export file (or '-' for stdout)", false}},
     {SPEC_OPTS, {OPT_SNAP, NULL},
      {OPT_PATH, "export file (or '-' for stdout)"}, {OPT_NO_PROGRESS, NULL},
      {OPT_EXPORT_FORMAT, NULL}, {OPT_NONE, NULL}},
     cmd_export},
    {"flatten", NULL, "Fill clone with parent data (make it independent).",
     "Copies up every object the parent holds that the clone lacks, in\n"
     "parallel, then drops the link to the parent.  Safe to interrupt: run\n"
     "it again to finish.  A clone with snapshots needs feature\n"
     "deep-flatten (the default); its snapshots then stop needing the\n"
     "parent as well.",
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS, {OPT_NO_PROGRESS, NULL}, {OPT_NONE, NULL}},
     cmd_flatten},
    {"help", NULL, "Show help for a command.", NULL,
     {{"<command>", "command, e.g. 'create' or 'pool ls'", true}},
     {{OPT_NONE, NULL}},
     cmd_help},
    {"import", NULL, "Import image from file.",
     "Reads raw bytes from a file, a block device or stdin ('-') into a new\n"
     "image of the same size.  Blocks of zeroes are not written, so holes\n"
     "and zeroed areas take no space.  The image name defaults to the\n"
     "file's name.  On failure the new image is removed.  With\n"
     "--export-format 2: a file of 'export --export-format 2' (lbd's or\n"
     "rbd's), with its snapshots; layout options given win over its own.",
     {{"<path>", "import file (or '-' for stdin)", false},
      {"<dest-image-spec>", "destination image specification\n"
       "(example: [<pool>/[<namespace>/]]<image>)", true}},
     {{OPT_PATH, "import file (or '-' for stdin)"}, {OPT_DEST_POOL, NULL},
      {OPT_DEST_NAMESPACE, NULL}, {OPT_DEST, NULL},
      {OPT_POOL, "destination pool name (as --dest-pool)"},
      {OPT_NAMESPACE, "destination namespace name (as --dest-namespace)"},
      {OPT_IMAGE, "destination image name (as --dest)"}, LAYOUT_OPTS,
      {OPT_NO_PROGRESS, NULL}, {OPT_EXPORT_FORMAT, NULL}, {OPT_NONE, NULL}},
     cmd_import},
    {"info", NULL, "Show information about image size, striping, etc.", NULL,
     {{"<image-spec>", SNAP_SPEC_HELP, false}},
     {SPEC_OPTS, {OPT_SNAP, NULL}, FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_info},
    {"lock add", NULL, "Create an advisory lock on an image.",
     "Advisory: it does not stop IO.  The lock stays, also after this\n"
     "command exits, until 'lbd lock rm'.  Exclusive unless --shared is\n"
     "given; shared lockers give the same tag.",
     {{"<image-spec>", IMAGE_SPEC_HELP, false},
      {"<lock-id>", "unique lock id", false}},
     {SPEC_OPTS, {OPT_SHARED, NULL}, {OPT_NONE, NULL}},
     cmd_lock_add},
    {"lock ls", "lock list", "Show locks held on an image.",
     "The locker is the client that took the lock, as 'lock rm' names it.",
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS, FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_lock_ls},
    {"lock rm", "lock remove", "Release a lock on an image.",
     "Removes the lock LOCK-ID of LOCKER (as 'lbd lock ls' shows them),\n"
     "whoever took it.",
     {{"<image-spec>", IMAGE_SPEC_HELP, false},
      {"<lock-id>", "unique lock id", false},
      {"<locker>", "locker client", false}},
     {SPEC_OPTS, {OPT_NONE, NULL}},
     cmd_lock_rm},
    {"ls", "list", "List images.",
     "With -l: the size and format of each image.",
     {{"<pool-spec>", "pool specification\n"
       "(example: <pool>[/<namespace>]) [default: rbd]", true}},
     {{OPT_LONG, NULL}, {OPT_POOL, NULL}, {OPT_NAMESPACE, NULL}, FORMAT_OPTS,
      {OPT_NONE, NULL}},
     cmd_ls},
    {"namespace create", NULL, "Create an image namespace.", NULL,
     {{"<namespace-spec>", "namespace specification\n"
       "(example: [<pool>/]<namespace>)", false}},
     {{OPT_POOL, NULL}, {OPT_NAMESPACE, NULL}, {OPT_NONE, NULL}},
     cmd_namespace_create},
    {"namespace ls", "namespace list", "List image namespaces.", NULL,
     {{"<pool-name>", "pool name [default: rbd]", true}},
     {{OPT_POOL, NULL}, FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_namespace_ls},
    {"namespace rm", "namespace remove", "Remove an image namespace.",
     "The namespace must hold no images.",
     {{"<namespace-spec>", "namespace specification\n"
       "(example: [<pool>/]<namespace>)", false}},
     {{OPT_POOL, NULL}, {OPT_NAMESPACE, NULL}, {OPT_NONE, NULL}},
     cmd_namespace_rm},
    {"nbd serve", NULL, "Serve an image over NBD (in the foreground).",
     "Opens the image once (a watcher in 'lbd status'; read-only with\n"
     "--read-only, and always for <image>@<snap>) and serves it to NBD\n"
     "clients (qemu, qemu-img, nbdcopy, nbdinfo, the kernel's nbd-client)\n"
     "on a Unix socket or a TCP port, until SIGTERM or SIGINT: then it\n"
     "stops accepting, finishes the requests in flight, flushes, closes the\n"
     "image (releasing its lock) and removes the socket and pidfile.\n"
     "Prints the NBD URI it serves on stdout once it listens.  Fixed\n"
     "newstyle handshake, structured replies (reads skip holes), the\n"
     "base:allocation meta context, trim, write zeroes, flush and FUA.",
     {{"<image-spec>", SNAP_SPEC_HELP, false}},
     {SPEC_OPTS, {OPT_SNAP, NULL}, {OPT_NBD_SOCKET, NULL},
      {OPT_NBD_BIND, NULL}, {OPT_NBD_PORT, NULL}, {OPT_READ_ONLY, NULL},
      {OPT_NBD_EXPORT_NAME, NULL}, {OPT_NBD_SHARED, NULL},
      {OPT_PIDFILE, NULL}, {OPT_NONE, NULL}},
     cmd_nbd_serve},
    {"object-map check", NULL, "Verify the object map is correct.",
     "Compares the object map on disk with the data objects that exist;\n"
     "exits non-zero if any object's state is wrong.",
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS, FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_object_map_check},
    {"object-map rebuild", NULL, "Rebuild an invalid object map.",
     "Lists the image's data objects and writes the object map anew (takes\n"
     "the image's exclusive lock).",
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS, {OPT_NONE, NULL}},
     cmd_object_map_rebuild},
    {"pool create", NULL, "Create a pool.",
     "lbd's counterpart of 'ceph osd pool create'.  With --path the pool\n"
     "keeps its objects in a directory of its own, e.g. on another disk.\n"
     "With --backend rados it keeps them in a RADOS pool of a Ceph cluster\n"
     "(made if missing; 'pool rm' deletes it only if lbd made it), next to\n"
     "the local pools: images move between the two with 'migration'.",
     {{"<pool-name>", "pool name", false}},
     {{OPT_POOL, NULL}, {OPT_POOL_PATH, NULL}, {OPT_BACKEND, NULL},
      {OPT_CEPH_CONF, NULL}, {OPT_RADOS_POOL, NULL}, {OPT_NONE, NULL}},
     cmd_pool_create},
    {"pool init", NULL, "Initialize pool for use by lbd.",
     "Checks that the pool exists and can hold images.",
     {{"<pool-name>", "pool name [default: rbd]", true}},
     {{OPT_POOL, NULL}, {OPT_NONE, NULL}},
     cmd_pool_init},
    {"pool ls", "pool list", "List pools.",
     "With -l: the id and the data directory of each pool.",
     {{NULL, NULL, false}},
     {{OPT_LONG, NULL}, FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_pool_ls},
    {"pool rm", "pool remove", "Remove a pool.",
     "Refuses a pool that still holds images unless --force is given; then\n"
     "every image in the pool (in every namespace) is removed with it.",
     {{"<pool-name>", "pool name", false}},
     {{OPT_POOL, NULL}, {OPT_FORCE, NULL}, {OPT_NONE, NULL}},
     cmd_pool_rm},
    {"rename", "mv", "Rename image within pool.", NULL,
     {{"<source-image-spec>", "source image specification\n"
       "(example: [<pool>/[<namespace>/]]<image>)", false},
      {"<dest-image-spec>", "destination image specification\n"
       "(example: [<pool>/[<namespace>/]]<image>)", false}},
     {{OPT_POOL, "source pool name [default: rbd]"},
      {OPT_NAMESPACE, "source namespace name"},
      {OPT_IMAGE, "source image name"}, {OPT_DEST_POOL, NULL},
      {OPT_DEST_NAMESPACE, NULL}, {OPT_DEST, NULL}, {OPT_NONE, NULL}},
     cmd_rename},
    {"resize", NULL, "Resize (expand or shrink) image.",
     "Shrinking drops the data past the new size, so it needs\n"
     "--allow-shrink.",
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS, {OPT_SIZE, "new image size (in M/G/T) [default unit: M]"},
      {OPT_ALLOW_SHRINK, NULL}, {OPT_NO_PROGRESS, NULL}, {OPT_NONE, NULL}},
     cmd_resize},
    {"rm", "remove", "Delete an image.",
     "Refused while another client has the image open.",
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS, {OPT_NO_PROGRESS, NULL}, {OPT_NONE, NULL}},
     cmd_rm},
    {"snap create", "snap add", "Create a snapshot.",
     "The snapshot keeps the image's bytes of this moment; open it as\n"
     "<image>@<snap> (read-only) with info, export, bench --io-type read.",
     {{"<snap-spec>", "snapshot specification\n"
       "(example: [<pool>/[<namespace>/]]<image>@<snap>)", false}},
     {SPEC_OPTS, {OPT_SNAP, NULL}, {OPT_NONE, NULL}},
     cmd_snap_create},
    {"snap limit clear", NULL, "Remove snapshot limit.", NULL,
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS, {OPT_NONE, NULL}},
     cmd_snap_limit_clear},
    {"snap limit set", NULL, "Limit the number of snapshots.",
     "'lbd snap create' is refused (EDQUOT) once the image has that many.",
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS, {OPT_LIMIT, NULL}, {OPT_NONE, NULL}},
     cmd_snap_limit_set},
    {"snap ls", "snap list", "Dump list of image snapshots.", NULL,
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS, FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_snap_ls},
    {"snap protect", NULL, "Prevent a snapshot from being deleted.", NULL,
     {{"<snap-spec>", "snapshot specification\n"
       "(example: [<pool>/[<namespace>/]]<image>@<snap>)", false}},
     {SPEC_OPTS, {OPT_SNAP, NULL}, {OPT_NONE, NULL}},
     cmd_snap_protect},
    {"snap purge", NULL, "Delete all unprotected snapshots.",
     "Fails, after removing the others, if protected snapshots remain.",
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS, {OPT_NONE, NULL}},
     cmd_snap_purge},
    {"snap rename", NULL, "Rename a snapshot.", NULL,
     {{"<source-snap-spec>", "source snapshot specification\n"
       "(example: [<pool>/[<namespace>/]]<image>@<snap>)", false},
      {"<dest-snap-spec>", "destination snapshot specification\n"
       "(example: [<pool>/[<namespace>/]]<image>@<snap>)", false}},
     {SPEC_OPTS, {OPT_SNAP, NULL}, {OPT_DEST_POOL, NULL},
      {OPT_DEST_NAMESPACE, NULL}, {OPT_DEST, NULL}, {OPT_NONE, NULL}},
     cmd_snap_rename},
    {"snap rollback", "snap revert", "Rollback image to snapshot.",
     "The image's data and size become the snapshot's; later snapshots are\n"
     "kept.  Resumable: after an interruption, run it again.",
     {{"<snap-spec>", "snapshot specification\n"
       "(example: [<pool>/[<namespace>/]]<image>@<snap>)", false}},
     {SPEC_OPTS, {OPT_SNAP, NULL}, {OPT_NO_PROGRESS, NULL}, {OPT_NONE, NULL}},
     cmd_snap_rollback},
    {"snap rm", "snap remove", "Delete a snapshot.",
     "Its data is freed unless another snapshot still needs it.",
     {{"<snap-spec>", "snapshot specification\n"
       "(example: [<pool>/[<namespace>/]]<image>@<snap>)", false}},
     {SPEC_OPTS, {OPT_SNAP, NULL}, {OPT_NONE, NULL}},
     cmd_snap_rm},
    {"snap unprotect", NULL, "Allow a snapshot to be deleted.", NULL,
     {{"<snap-spec>", "snapshot specification\n"
       "(example: [<pool>/[<namespace>/]]<image>@<snap>)", false}},
     {SPEC_OPTS, {OPT_SNAP, NULL}, {OPT_NONE, NULL}},
     cmd_snap_unprotect},
    {"migration abort", NULL, "Cancel interrupted image migration.",
     "Copies every write that clients made to the target since prepare\n"
     "back into the source, removes the target (with the snapshots taken\n"
     "on it since prepare) and gives the source back under its name,\n"
     "read-write, with its snapshots as before.  Refused while the target\n"
     "is open.  After a crash, run it again.",
     {{"<image-spec>", "target image, or source image (also in the trash)\n"
       "(example: [<pool>/[<namespace>/]]<image>)", false}},
     {SPEC_OPTS, {OPT_NO_PROGRESS, NULL}, {OPT_NONE, NULL}},
     cmd_migration_abort},
    {"migration commit", NULL, "Commit image migration.",
     "After execute: drops the link between the images and removes the\n"
     "source with its snapshots and data.  After a crash, run it again.",
     {{"<image-spec>", "target image, or source image (also in the trash)\n"
       "(example: [<pool>/[<namespace>/]]<image>)", false}},
     {SPEC_OPTS, {OPT_VERIFY, NULL},
      {OPT_FORCE, "also when the image has clones (none may be open)"},
      {OPT_NO_PROGRESS, NULL}, {OPT_NONE, NULL}},
     cmd_migration_commit},
    {"migration execute", NULL, "Execute image migration.",
     "Copies every object of the source, with every snapshot, into the\n"
     "target, in parallel, while clients keep using the target; holes stay\n"
     "holes.  Interrupted (Ctrl-C, kill, crash), it goes on where it stopped\n"
     "when run again.  A second execute of the same image is refused.",
     {{"<image-spec>", "target image, or source image (also in the trash)\n"
       "(example: [<pool>/[<namespace>/]]<image>)", false}},
     {SPEC_OPTS, {OPT_CONCURRENCY, NULL}, {OPT_MAX_RATE, NULL},
      {OPT_NO_PROGRESS, NULL}, {OPT_NONE, NULL}},
     cmd_migration_execute},
    {"migration prepare", NULL, "Prepare image migration.",
     "Links a new target image to the source in O(1): from then on clients\n"
     "use the target (reads of data not yet copied go to the source, writes\n"
     "copy the source's object up first).  The source moves to the trash,\n"
     "read-only.  The target gets the source's snapshots and metadata, and\n"
     "its layout from the options (the source's by default; a new object\n"
     "size alone carries default striping along).  Without a target spec\n"
     "the image keeps its name and changes its layout only.  Refused while\n"
     "the source is open or locked.  A clone keeps its parent link (the\n"
     "commit moves it to the target) unless --flatten.\n"
     "With --import-only the source is left unchanged: a snapshot of an lbd\n"
     "image (<pool>/<image>@<snap>, or a native source-spec), or a raw,\n"
     "QCOW, rbd export (rbd-export) or export-diff chain (rbd-diff) file\n"
     "behind a file, http, s3 or nbd stream, described by a\n"
     "source-spec (--source-spec JSON, or --source-spec-path FILE|-); then\n"
     "the only positional argument is the target.  Keys in a source-spec\n"
     "may be config://<key> (from 'lbd config-key set'); lbd never prints\n"
     "them.",
     {{"<source-image-spec>", "source image specification\n"
       "(example: [<pool>/[<namespace>/]]<image>)", false},
      {"<dest-image-spec>", "destination image specification\n"
       "(example: [<pool>/[<namespace>/]]<image>)", true}},
     {{OPT_POOL, "source pool name"}, {OPT_NAMESPACE, "source namespace name"},
      {OPT_IMAGE, "source image name"},
      {OPT_DEST_POOL, "destination pool name [default: the source's]"},
      {OPT_DEST_NAMESPACE, "destination namespace name [default: the "
       "source's]"},
      {OPT_DEST, "destination image name [default: the source's]"},
      LAYOUT_OPTS, {OPT_FLATTEN, NULL}, {OPT_THICK_PROVISION, NULL},
      {OPT_IMPORT_ONLY, NULL},
      {OPT_SOURCE_SPEC, NULL}, {OPT_SOURCE_SPEC_PATH, NULL},
      {OPT_SOURCE_SPEC_FILE, NULL}, {OPT_NONE, NULL}},
     cmd_migration_prepare},
    {"migration verify", NULL, "Check that the target no longer needs its "
     "source.",
     "For the head and every snapshot of the target, compares what clients\n"
     "read (the target's own data, else the source's) with the target's own\n"
     "data alone, in parallel; the first byte that only the source holds is\n"
     "reported (exit status EILSEQ).  Writes that clients made to the target\n"
     "are its own and never differences.  Run after execute, before commit\n"
     "(or use 'commit --verify').",
     {{"<image-spec>", "target image, or source image (also in the trash)\n"
       "(example: [<pool>/[<namespace>/]]<image>)", false}},
     {SPEC_OPTS, {OPT_NO_PROGRESS, NULL}, {OPT_NONE, NULL}},
     cmd_migration_verify},
    {"status", NULL, "Show the status of this image.",
     "Lists the watchers: the processes that have the image open, with\n"
     "their mode (read-write or read-only); and for an image that takes\n"
     "part in a migration (the target, or the source by its name while it\n"
     "is in the trash), the migration: source, destination and state.",
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS, FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_status},
    /* diff and rbd's diff files (cmd_diff.c) */
    {"diff", NULL, "Print extents that differ since a previous snap, or "
     "image creation.",
     "Each extent's offset, length and type: data, or zero (it reads as\n"
     "zeroes now, e.g. discarded).  With --whole-object: whole objects that\n"
     "changed.",
     {{"<image-spec>", SNAP_SPEC_HELP, false}},
     {SPEC_OPTS, {OPT_SNAP, NULL}, {OPT_FROM_SNAP, NULL},
      {OPT_WHOLE_OBJECT, NULL}, FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_diff},
    {"export-diff", NULL, "Export incremental diff to file.",
     "Writes what changed since --from-snap (else all the data) in rbd's\n"
     "diff format v1 to a new file (it must not exist), or to stdout with\n"
     "'-'; 'import-diff' applies it, lbd's or rbd's.",
     {{"<source-image-or-snap-spec>", "source image or snapshot "
       "specification\n(example: [<pool>/[<namespace>/]]<image>[@<snap>])",
       false},
      {"<path>", "export file (or '-' for stdout)", false}},
     {SPEC_OPTS, {OPT_SNAP, NULL},
      {OPT_PATH, "export file (or '-' for stdout)"}, {OPT_FROM_SNAP, NULL},
      {OPT_WHOLE_OBJECT, NULL}, {OPT_NO_PROGRESS, NULL}, {OPT_NONE, NULL}},
     cmd_export_diff},
    {"import-diff", NULL, "Apply an incremental diff to image HEAD, then "
     "create a snapshot.",
     "The diff (rbd's format v1 or v2) is checked whole before the image\n"
     "changes: its start snapshot must exist in the image, its end snapshot\n"
     "must not.  A diff read from stdin is kept in a temporary file\n"
     "($TMPDIR) meanwhile.",
     {{"<path>", "import file (or '-' for stdin)", false},
      {"<image-spec>", IMAGE_SPEC_HELP, false}},
     {{OPT_PATH, "import file (or '-' for stdin)"}, SPEC_OPTS,
      {OPT_NO_PROGRESS, NULL}, {OPT_NONE, NULL}},
     cmd_import_diff},
    {"merge-diff", NULL, "Merge two diff exports together.",
     "The second diff must start at the snapshot the first ends at, and\n"
     "both must list their extents in ascending order, as export-diff\n"
     "writes them.  The merged diff is in format v1.",
     {{"<diff1-path>", "path to first diff (or '-' for stdin)", false},
      {"<diff2-path>", "path to second diff (or '-' for stdin)", false},
      {"<path>", "path to merged diff (or '-' for stdout)", false}},
     {{OPT_PATH, "path to merged diff (or '-' for stdout)"},
      {OPT_NO_PROGRESS, NULL}, {OPT_NONE, NULL}},
     cmd_merge_diff},
    /* trash, image metadata, config-key (cmd_trash.c, cmd_meta.c,
     * cmd_config.c) */
    {"trash mv", "trash move", "Move an image to the trash.",
     "The image leaves the image list and cannot be opened by name; its\n"
     "data stays until 'lbd trash rm' or 'lbd trash purge', and 'lbd trash\n"
     "restore' brings it back.  Refused while the image is open.",
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS, {OPT_EXPIRES_AT, NULL}, {OPT_DELAY, NULL}, {OPT_NONE, NULL}},
     cmd_trash_mv},
    {"trash ls", "trash list", "List trash images.",
     "With -l: the source, deletion time and expiration of each image.",
     {{"<pool-spec>", "pool specification\n"
       "(example: <pool>[/<namespace>]) [default: rbd]", true}},
     {{OPT_ALL, NULL}, {OPT_LONG, NULL}, {OPT_POOL, NULL},
      {OPT_NAMESPACE, NULL}, FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_trash_ls},
    {"trash purge", NULL, "Remove all expired images from trash.",
     "Images moved to the trash by a migration are left alone.",
     {{"<pool-spec>", "pool specification\n"
       "(example: <pool>[/<namespace>]) [default: rbd]", true}},
     {{OPT_POOL, NULL}, {OPT_NAMESPACE, NULL}, {OPT_EXPIRED_BEFORE, NULL},
      {OPT_NO_PROGRESS, NULL}, {OPT_NONE, NULL}},
     cmd_trash_purge},
    {"trash restore", NULL, "Restore an image from trash.",
     "Under its old name, or the one given with --image; refused if an\n"
     "image of that name exists.",
     {{"<image-id-spec>", "image id specification\n"
       "(example: [<pool>/[<namespace>/]]<image-id>)", false}},
     {{OPT_POOL, NULL}, {OPT_NAMESPACE, NULL},
      {OPT_IMAGE, "image name [default: the name it had]"}, {OPT_NONE, NULL}},
     cmd_trash_restore},
    {"trash rm", "trash remove", "Remove an image from trash.",
     "Removes the image and its data for good.  An image whose expiration\n"
     "time (--expires-at of 'lbd trash mv') has not come needs --force.",
     {{"<image-id-spec>", "image id specification\n"
       "(example: [<pool>/[<namespace>/]]<image-id>)", false}},
     {{OPT_POOL, NULL}, {OPT_NAMESPACE, NULL},
      {OPT_FORCE, "force remove of non-expired delayed images"},
      {OPT_NO_PROGRESS, NULL}, {OPT_NONE, NULL}},
     cmd_trash_rm},
    {"image-meta get", NULL, "Image metadata get the value associated with "
     "the key.", NULL,
     {{"<image-spec>", IMAGE_SPEC_HELP, false},
      {"<key>", "image meta key", false}},
     {SPEC_OPTS, {OPT_NONE, NULL}},
     cmd_meta_get},
    {"image-meta ls", "image-meta list", "Image metadata list keys with "
     "values.", NULL,
     {{"<image-spec>", IMAGE_SPEC_HELP, false}},
     {SPEC_OPTS, FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_meta_ls},
    {"image-meta rm", "image-meta remove", "Image metadata remove the key "
     "and value associated.", NULL,
     {{"<image-spec>", IMAGE_SPEC_HELP, false},
      {"<key>", "image meta key", false}},
     {SPEC_OPTS, {OPT_NONE, NULL}},
     cmd_meta_rm},
    {"image-meta set", NULL, "Image metadata set key with value.", NULL,
     {{"<image-spec>", IMAGE_SPEC_HELP, false},
      {"<key>", "image meta key", false},
      {"<value>", "image meta value", false}},
     {SPEC_OPTS, {OPT_NONE, NULL}},
     cmd_meta_set},
    {"config-key get", NULL, "Get the value of a config key.",
     "Prints the value exactly as stored (no newline is added), or writes\n"
     "it to a new file (it must not exist) of mode 0600 with -o.",
     {{"<key>", "config key", false}},
     {{OPT_OUTPUT_FILE, NULL}, {OPT_NONE, NULL}},
     cmd_config_key_get},
    {"config-key ls", "config-key list", "List config keys.",
     "Values are never listed: they may be secrets.",
     {{NULL, NULL, false}},
     {FORMAT_OPTS, {OPT_NONE, NULL}},
     cmd_config_key_ls},
    {"config-key rm", "config-key del", "Remove a config key.", NULL,
     {{"<key>", "config key", false}},
     {{OPT_NONE, NULL}},
     cmd_config_key_rm},
    {"config-key set", NULL, "Set a config key to a value.",
     "The cluster's config keys (e.g. S3 credentials) are kept in the\n"
     "cluster directory, readable by its owner only (lbd's counterpart of\n"
     "'ceph config-key').  Give the value, or -i FILE ('-' for stdin) so\n"
     "that it stays out of the process list and shell history.",
     {{"<key>", "config key", false},
      {"<value>", "config value", true}},
     {{OPT_INPUT_FILE, NULL}, {OPT_NONE, NULL}},
     cmd_config_key_set},
};
const size_t cli_ncommands = sizeof cli_commands / sizeof *cli_commands;

/* Does NAME ("pool create", "snap limit set") match the first words of
 * WORDS?  Returns how many it uses, or 0. */
static int match(const char *name, char **words, int n)
{
  if (!name)
    return 0;
  int used = 0;
  while (*name) {
    size_t len = strcspn(name, " ");
    if (used == n || strlen(words[used]) != len ||
        strncmp(name, words[used], len) != 0)
      return 0;
    used++;
    name += len + (name[len] == ' ');
  }
  return used;
}

const struct command *command_find(char **words, int n, int *used)
{
  for (size_t i = 0; n > 0 && i < cli_ncommands; i++) {
    int m = match(cli_commands[i].name, words, n);
    if (!m)
      m = match(cli_commands[i].alias, words, n);
    if (m) {
      *used = m;
      return &cli_commands[i];
    }
  }
  return NULL;
}

bool command_is_group(const char *word)
{
  size_t len = strlen(word);
  for (size_t i = 0; i < cli_ncommands; i++) {
    const char *name = cli_commands[i].name;
    if (strncmp(name, word, len) == 0 && name[len] == ' ')
      return true;
  }
  return false;
}

bool command_takes(const struct command *cmd, enum opt_id id)
{
  if (opt_is_global(id))
    return true;
  for (const struct cmd_opt *o = cmd->opts; o->id != OPT_NONE; o++)
    if (o->id == id)
      return true;
  return false;
}
