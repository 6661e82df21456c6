// Dolly's kernel calls: the btrfs subvolume ioctls, FIFREEZE/FITHAW, FS_NOCOW_FL and syncfs,
// made directly instead of by spawning btrfs, chattr or fsfreeze (a spawn of the driver's
// process costs more than the call itself). Every call runs on a libuv worker thread
// (napi_create_async_work: a snapshot waits for a transaction commit, a freeze for writers to
// drain) and answers with a promise. Failures reject with an Error shaped like Node's fs errors:
// `code` (the errno name), `errno` (negative, as Node has it), `syscall`, `path`, and `dest`
// where there is a second path. Bad arguments throw a TypeError (code ERR_INVALID_ARG_VALUE)
// before any system call.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

// The inode number of every subvolume's root directory (BTRFS_FIRST_FREE_OBJECTID).
#define SUBVOLUME_ROOT_INODE 256
// A directory entry name: at most NAME_MAX bytes, which is also below BTRFS_SUBVOL_NAME_MAX.
#define ENTRY_NAME_MAX NAME_MAX

// Directories are opened without following a final symlink: the kernel then acts on exactly
// the path given, and every fd is closed on exec (the driver spawns host programs meanwhile).
#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

typedef enum {
  OP_SUBVOLUME_CREATE,
  OP_SUBVOLUME_SNAPSHOT,
  OP_SUBVOLUME_DELETE,
  OP_BTRFS_SYNC,
  OP_SET_NOCOW,
  OP_FREEZE,
  OP_THAW,
  OP_SYNCFS,
} Op;

// Which path a failure concerns: the directory given, or an entry `name` in one.
typedef enum { AT_PATH, AT_DIR, AT_PATH_ENTRY, AT_DIR_ENTRY } Where;

typedef struct {
  Op op;
  char *path;  // the directory acted on, or the snapshot's source
  char *dir;   // the snapshot's destination directory
  char *name;  // the entry made or removed in `path` (or in `dir` for a snapshot)
  bool read_only;
  // Set by execute(): errno of the failure (0: none), the call that failed, what it concerned.
  int error;
  const char *syscall;
  Where where;
  bool has_dest;
  Where dest_where;
  napi_deferred deferred;
  napi_async_work work;
} Call;

static void free_call(Call *call) {
  free(call->path);
  free(call->dir);
  free(call->name);
  free(call);
}

static void fail(Call *call, int error, const char *syscall, Where where) {
  call->error = error;
  call->syscall = syscall;
  call->where = where;
}

static int open_dir(Call *call, const char *path, Where where) {
  int fd = open(path, DIR_FLAGS);
  if (fd < 0) fail(call, errno, "open", where);
  return fd;
}

static void close_fd(int fd) {
  if (fd >= 0) close(fd);
}

// Fills a name field of the btrfs ioctl arguments; the name was checked to fit.
static void copy_name(char *field, size_t field_size, const char *name) {
  memset(field, 0, field_size);
  memcpy(field, name, strlen(name));
}

// A btrfs ioctl on the directory `path` naming the entry `name` in it (create, destroy).
static void named_subvolume_ioctl(Call *call, unsigned long request, const char *syscall) {
  int fd = open_dir(call, call->path, AT_PATH);
  if (fd < 0) return;
  struct btrfs_ioctl_vol_args args;
  memset(&args, 0, sizeof args);
  copy_name(args.name, sizeof args.name, call->name);
  if (ioctl(fd, request, &args) < 0) fail(call, errno, syscall, AT_PATH_ENTRY);
  close_fd(fd);
}

static void subvolume_create(Call *call) {
  named_subvolume_ioctl(call, BTRFS_IOC_SUBVOL_CREATE, "BTRFS_IOC_SUBVOL_CREATE");
}

static void subvolume_snapshot(Call *call) {
  call->has_dest = true;
  call->dest_where = AT_DIR_ENTRY;
  int source = open_dir(call, call->path, AT_PATH);
  if (source < 0) return;
  int dir = -1;
  struct stat info;
  if (fstat(source, &info) < 0) {
    fail(call, errno, "fstat", AT_PATH);
    goto out;
  }
  // A plain directory is refused here, as `btrfs subvolume snapshot` does, whatever the kernel
  // would make of it (this one answers EINVAL too).
  if (info.st_ino != SUBVOLUME_ROOT_INODE) {
    fail(call, EINVAL, "BTRFS_IOC_SNAP_CREATE_V2", AT_PATH);
    goto out;
  }
  dir = open_dir(call, call->dir, AT_DIR);
  if (dir < 0) goto out;
  struct btrfs_ioctl_vol_args_v2 args;
  memset(&args, 0, sizeof args);
  args.fd = source;
  args.flags = call->read_only ? BTRFS_SUBVOL_RDONLY : 0;
  copy_name(args.name, sizeof args.name, call->name);
  if (ioctl(dir, BTRFS_IOC_SNAP_CREATE_V2, &args) < 0)
    fail(call, errno, "BTRFS_IOC_SNAP_CREATE_V2", AT_PATH);
out:
  close_fd(dir);
  close_fd(source);
}

static void subvolume_delete(Call *call) {
  named_subvolume_ioctl(call, BTRFS_IOC_SNAP_DESTROY, "BTRFS_IOC_SNAP_DESTROY");
}

static void btrfs_sync(Call *call) {
  int fd = open_dir(call, call->path, AT_PATH);
  if (fd < 0) return;
  if (ioctl(fd, BTRFS_IOC_SYNC, NULL) < 0) fail(call, errno, "BTRFS_IOC_SYNC", AT_PATH);
  close_fd(fd);
}

static void set_nocow(Call *call) {
  int fd = open_dir(call, call->path, AT_PATH);
  if (fd < 0) return;
  // The kernel reads and writes an int here, whatever the ioctl numbers' `long` says.
  int flags = 0;
  if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0) {
    fail(call, errno, "FS_IOC_GETFLAGS", AT_PATH);
  } else if ((flags & FS_NOCOW_FL) == 0) {
    flags |= FS_NOCOW_FL;
    if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0) fail(call, errno, "FS_IOC_SETFLAGS", AT_PATH);
  }
  close_fd(fd);
}

static void freeze_or_thaw(Call *call, unsigned long request, const char *name) {
  int fd = open_dir(call, call->path, AT_PATH);
  if (fd < 0) return;
  if (ioctl(fd, request, 0) < 0) fail(call, errno, name, AT_PATH);
  close_fd(fd);
}

static void sync_filesystem(Call *call) {
  int fd = open_dir(call, call->path, AT_PATH);
  if (fd < 0) return;
  if (syncfs(fd) < 0) fail(call, errno, "syncfs", AT_PATH);
  close_fd(fd);
}

// On a libuv worker thread: no JavaScript here.
static void execute(napi_env env, void *data) {
  (void)env;
  Call *call = data;
  switch (call->op) {
    case OP_SUBVOLUME_CREATE:
      subvolume_create(call);
      break;
    case OP_SUBVOLUME_SNAPSHOT:
      subvolume_snapshot(call);
      break;
    case OP_SUBVOLUME_DELETE:
      subvolume_delete(call);
      break;
    case OP_BTRFS_SYNC:
      btrfs_sync(call);
      break;
    case OP_SET_NOCOW:
      set_nocow(call);
      break;
    case OP_FREEZE:
      freeze_or_thaw(call, FIFREEZE, "FIFREEZE");
      break;
    case OP_THAW:
      freeze_or_thaw(call, FITHAW, "FITHAW");
      break;
    case OP_SYNCFS:
      sync_filesystem(call);
      break;
  }
}

// The path a failure concerns, newly allocated (NULL when out of memory).
static char *path_of(const Call *call, Where where) {
  const char *base = (where == AT_DIR || where == AT_DIR_ENTRY) ? call->dir : call->path;
  if (where == AT_PATH || where == AT_DIR) return strdup(base);
  size_t length = strlen(base);
  const char *separator = (length > 0 && base[length - 1] == '/') ? "" : "/";
  char *joined = NULL;
  if (asprintf(&joined, "%s%s%s", base, separator, call->name) < 0) return NULL;
  return joined;
}

static napi_status set_string(napi_env env, napi_value object, const char *key, const char *value) {
  napi_value string;
  napi_status status = napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &string);
  if (status != napi_ok) return status;
  return napi_set_named_property(env, object, key, string);
}

// The Error a failed call rejects with, like Node's: "ENOENT: No such file or directory, open '/x'".
static napi_value make_error(napi_env env, const Call *call) {
  const char *code = strerrorname_np(call->error);
  const char *description = strerrordesc_np(call->error);
  char unknown[32];
  if (code == NULL) {
    snprintf(unknown, sizeof unknown, "E%d", call->error);
    code = unknown;
  }
  if (description == NULL) description = "Unknown system error";
  char *path = path_of(call, call->where);
  char *dest = call->has_dest ? path_of(call, call->dest_where) : NULL;
  char *message = NULL;
  int printed = dest != NULL
                    ? asprintf(&message, "%s: %s, %s '%s' -> '%s'", code, description, call->syscall,
                               path ? path : "", dest)
                    : asprintf(&message, "%s: %s, %s '%s'", code, description, call->syscall,
                               path ? path : "");
  napi_value text, error = NULL, errno_value;
  if (printed >= 0 &&
      napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text) == napi_ok &&
      napi_create_error(env, NULL, text, &error) == napi_ok) {
    set_string(env, error, "code", code);
    if (napi_create_int32(env, -call->error, &errno_value) == napi_ok)
      napi_set_named_property(env, error, "errno", errno_value);
    set_string(env, error, "syscall", call->syscall);
    if (path) set_string(env, error, "path", path);
    if (dest) set_string(env, error, "dest", dest);
  }
  if (printed >= 0) free(message);
  free(path);
  free(dest);
  return error;
}

// Back on the JavaScript thread: settle the promise, free everything.
static void complete(napi_env env, napi_status status, void *data) {
  Call *call = data;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  if (status != napi_ok) {
    napi_value message, error;
    napi_create_string_utf8(env, "the kernel call could not be run", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_reject_deferred(env, call->deferred, error);
  } else if (call->error != 0) {
    napi_value error = make_error(env, call);
    napi_reject_deferred(env, call->deferred, error ? error : undefined);
  } else {
    napi_resolve_deferred(env, call->deferred, undefined);
  }
  napi_delete_async_work(env, call->work);
  free_call(call);
}

static bool throw_invalid(napi_env env, const char *what, const char *why) {
  char message[256];
  snprintf(message, sizeof message, "%s %s", what, why);
  napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", message);
  return false;
}

// Copies a string argument; false (with a TypeError thrown) when it is not a string or holds a NUL.
static bool get_string(napi_env env, napi_value value, const char *what, char **out, size_t max) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok)
    return throw_invalid(env, what, "must be a string");
  if (length > max) return throw_invalid(env, what, "is too long");
  char *copy = malloc(length + 1);
  if (copy == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return false;
  }
  napi_get_value_string_utf8(env, value, copy, length + 1, &length);
  if (strlen(copy) != length) {
    free(copy);
    return throw_invalid(env, what, "must not contain a NUL character");
  }
  *out = copy;
  return true;
}

static bool get_path(napi_env env, napi_value value, const char *what, char **out) {
  if (!get_string(env, value, what, out, PATH_MAX - 1)) return false;
  if ((*out)[0] != '/') {
    free(*out);
    *out = NULL;
    return throw_invalid(env, what, "must be an absolute path");
  }
  return true;
}

// A name made or removed in a directory: one path component, never '.' or '..'.
static bool get_name(napi_env env, napi_value value, char **out) {
  if (!get_string(env, value, "name", out, ENTRY_NAME_MAX)) return false;
  const char *name = *out;
  const char *why = NULL;
  if (name[0] == '\0') why = "must not be empty";
  else if (strchr(name, '/') != NULL) why = "must not contain '/'";
  else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) why = "must not be '.' or '..'";
  if (why == NULL) return true;
  free(*out);
  *out = NULL;
  return throw_invalid(env, "name", why);
}

// Parses the arguments an operation takes, then queues it; returns its promise.
static napi_value start(napi_env env, napi_callback_info info, Op op) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  size_t wanted = op == OP_SUBVOLUME_SNAPSHOT                                ? 4
                  : (op == OP_SUBVOLUME_CREATE || op == OP_SUBVOLUME_DELETE) ? 2
                                                                             : 1;
  if (argc < wanted) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "missing arguments");
    return NULL;
  }
  Call *call = calloc(1, sizeof *call);
  if (call == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  call->op = op;
  bool ok = get_path(env, argv[0], op == OP_SUBVOLUME_SNAPSHOT ? "source" : "path", &call->path);
  if (ok && op == OP_SUBVOLUME_SNAPSHOT) {
    ok = get_path(env, argv[1], "directory", &call->dir) && get_name(env, argv[2], &call->name);
    if (ok && napi_get_value_bool(env, argv[3], &call->read_only) != napi_ok)
      ok = throw_invalid(env, "readOnly", "must be a boolean");
  } else if (ok && (op == OP_SUBVOLUME_CREATE || op == OP_SUBVOLUME_DELETE)) {
    ok = get_name(env, argv[1], &call->name);
  }
  napi_value promise = NULL, resource_name;
  if (ok) {
    ok = napi_create_promise(env, &call->deferred, &promise) == napi_ok &&
         napi_create_string_utf8(env, "dolly:kernel", NAPI_AUTO_LENGTH, &resource_name) == napi_ok &&
         napi_create_async_work(env, NULL, resource_name, execute, complete, call, &call->work) ==
             napi_ok;
    if (ok && napi_queue_async_work(env, call->work) != napi_ok) {
      napi_delete_async_work(env, call->work);
      ok = false;
    }
    if (!ok) {
      // A promise made before the failure is never settled; the throw is the answer.
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (!pending) napi_throw_error(env, NULL, "could not start the kernel call");
    }
  }
  if (!ok) {
    free_call(call);
    return NULL;
  }
  return promise;
}

#define ENTRY(function, op) \
  static napi_value function(napi_env env, napi_callback_info info) { return start(env, info, op); }
ENTRY(subvolume_create_js, OP_SUBVOLUME_CREATE)
ENTRY(subvolume_snapshot_js, OP_SUBVOLUME_SNAPSHOT)
ENTRY(subvolume_delete_js, OP_SUBVOLUME_DELETE)
ENTRY(btrfs_sync_js, OP_BTRFS_SYNC)
ENTRY(set_nocow_js, OP_SET_NOCOW)
ENTRY(freeze_js, OP_FREEZE)
ENTRY(thaw_js, OP_THAW)
ENTRY(syncfs_js, OP_SYNCFS)

NAPI_MODULE_INIT() {
  napi_property_descriptor properties[] = {
      {"subvolumeCreate", NULL, subvolume_create_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"subvolumeSnapshot", NULL, subvolume_snapshot_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"subvolumeDelete", NULL, subvolume_delete_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"btrfsSync", NULL, btrfs_sync_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setNoCow", NULL, set_nocow_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"freeze", NULL, freeze_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"thaw", NULL, thaw_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"syncfs", NULL, syncfs_js, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties) !=
      napi_ok)
    return NULL;
  return exports;
}
