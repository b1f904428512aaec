#include "blocking.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "default-acl.h"
#include "open-beneath.h"

namespace persistfs {

namespace {

// Runs `work` on the thread pool; `work` returns a result >= 0 or -errno. `done` turns a non-negative
// result into the JavaScript value (on the event loop thread); a negative one resolves as that number.
class Call : public Napi::AsyncWorker {
 public:
  using Work = std::function<long()>;
  using Done = std::function<Napi::Value(Napi::Env, long)>;

  static Napi::Value Start(Napi::Env env, Work work, Done done = nullptr) {
    auto* call = new Call(env, std::move(work), std::move(done));
    Napi::Promise promise = call->deferred_.Promise();
    call->Queue();
    return promise;
  }

 private:
  Call(Napi::Env env, Work work, Done done)
      : Napi::AsyncWorker(env, "persistfs.blocking"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        done_(std::move(done)) {}

  void Execute() override { result_ = work_(); }

  void OnOK() override {
    Napi::Env env = Env();
    if (result_ < 0 || !done_) {
      deferred_.Resolve(Napi::Number::New(env, static_cast<double>(result_)));
    } else {
      deferred_.Resolve(done_(env, result_));
    }
  }

  Napi::Promise::Deferred deferred_;
  Work work_;
  Done done_;
  long result_ = 0;
};

long Check(long rc) { return rc < 0 ? -errno : rc; }

// openat2(dirfd, path, flags, mode, resolve)
Napi::Value Openat2(const Napi::CallbackInfo& info) {
  int dirfd = I32(info, 0);
  std::string path = PathCopy(info, 1);
  open_how how{};
  how.flags = U32(info, 2);
  how.mode = U32(info, 3);
  how.resolve = U32(info, 4);
  return Call::Start(info.Env(), [=]() { return Check(syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof(how))); });
}

// A struct statx the pool thread fills for the Uint8Array argument `index` (256 bytes), copied into it on
// the event loop thread by Deliver (JavaScript memory is touched only there). Copied into the work and the
// done of a Call: both hold the same statx and the same reference to the array.
class StatxOut {
 public:
  StatxOut(const Napi::CallbackInfo& info, size_t index) : stx_(std::make_shared<struct statx>()) {
    RangeOf(info, index, 0, sizeof(struct statx));  // throws unless the array has room for one
    out_ = std::make_shared<Napi::Reference<Napi::Uint8Array>>(Napi::Persistent(info[index].As<Napi::Uint8Array>()));
  }

  struct statx* get() const {
    return stx_.get();
  }

  // the done of a Call whose result `rc` is not negative: the statx copied out, `rc` the answer
  Napi::Value Deliver(Napi::Env env, long rc) const {
    memcpy(out_->Value().Data(), stx_.get(), sizeof(struct statx));
    return Napi::Number::New(env, static_cast<double>(rc));
  }

 private:
  std::shared_ptr<Napi::Reference<Napi::Uint8Array>> out_;
  std::shared_ptr<struct statx> stx_;
};

// The steps of createFile, told apart in its error: -(errno + (step << 16)).
enum CreateStep : long { kCreateOpen = 0, kCreateDirect = 1, kCreateAcl = 2, kCreateChmod = 3, kCreateStat = 4 };

// After a failed step of createFile: the name removed if it is still the file made (another process may
// have renamed it away and put a file of its own there meanwhile), the descriptor closed.
void UndoCreate(int dirfd, const std::string& path, int fd) {
  struct stat made {
  }, named{};
  if (fstat(fd, &made) == 0 && fstatat(dirfd, path.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 &&
      made.st_dev == named.st_dev && made.st_ino == named.st_ino)
    unlinkat(dirfd, path.c_str(), 0);
  close(fd);
}

// createFile(dirfd, path, flags, mode, umask, mask, out: Uint8Array of 256 bytes) -> fd | -(errno + (step
// << 16)): the new file `path` in `dirfd` as the storage's createFile makes one, in one trip to the pool
// instead of four: openat2 with O_CREAT | O_EXCL beneath `dirfd` (O_DIRECT set after, by fcntl: a file
// system without it refuses only after making the file); where `mode` has bits of `umask` and the
// directory has no default ACL (the kernel took the umask's bits, not an ACL's), fchmod back to `mode`
// exactly; then the statx of the new descriptor, copied into `out` on the event loop thread. A failure
// after the open removes the file made and closes the descriptor: the caller gets an error and no file.
Napi::Value CreateFile(const Napi::CallbackInfo& info) {
  int dirfd = I32(info, 0);
  std::string path = PathCopy(info, 1);
  const int flags = I32(info, 2);
  open_how how{};
  how.flags = static_cast<uint64_t>((flags & ~O_DIRECT) | O_CREAT | O_EXCL);
  how.mode = U32(info, 3);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  mode_t umask_bits = U32(info, 4);
  unsigned mask = U32(info, 5);
  StatxOut out(info, 6);
  return Call::Start(
      info.Env(),
      [=]() -> long {
        const long opened = syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how);
        if (opened < 0) return -errno;
        const int fd = static_cast<int>(opened);
        const auto failed = [&](CreateStep step, long error) {
          UndoCreate(dirfd, path, fd);
          return -(error + (static_cast<long>(step) << 16));
        };
        if ((flags & O_DIRECT) != 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT) < 0)
          return failed(kCreateDirect, errno);
        if ((how.mode & umask_bits) != 0) {
          const int acl = HasDefaultAcl(dirfd);
          if (acl < 0) return failed(kCreateAcl, -acl);
          if (acl == 0 && fchmod(fd, static_cast<mode_t>(how.mode)) < 0) return failed(kCreateChmod, errno);
        }
        if (statx(fd, "", AT_EMPTY_PATH, mask, out.get()) < 0) return failed(kCreateStat, errno);
        return fd;
      },
      [=](Napi::Env env, long fd) { return out.Deliver(env, fd); });
}

// close(fd)
Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = I32(info, 0);
  return Call::Start(info.Env(), [=]() { return Check(close(fd)); });
}

// mkdirat(dirfd, path, mode)
Napi::Value Mkdirat(const Napi::CallbackInfo& info) {
  int dirfd = I32(info, 0);
  std::string path = PathCopy(info, 1);
  mode_t mode = U32(info, 2);
  return Call::Start(info.Env(), [=]() { return Check(mkdirat(dirfd, path.c_str(), mode)); });
}

// mknodat(dirfd, path, mode, dev): a FIFO, socket or device node (io_uring has no mknod opcode). `dev` is
// the kernel's dev_t encoding (makedev), exact as a double up to 2^53.
Napi::Value Mknodat(const Napi::CallbackInfo& info) {
  int dirfd = I32(info, 0);
  std::string path = PathCopy(info, 1);
  mode_t mode = U32(info, 2);
  dev_t dev = static_cast<dev_t>(I64(info, 3));
  return Call::Start(info.Env(), [=]() { return Check(mknodat(dirfd, path.c_str(), mode, dev)); });
}

// unlinkat(dirfd, path, flags)
Napi::Value Unlinkat(const Napi::CallbackInfo& info) {
  int dirfd = I32(info, 0);
  std::string path = PathCopy(info, 1);
  int flags = I32(info, 2);
  return Call::Start(info.Env(), [=]() { return Check(unlinkat(dirfd, path.c_str(), flags)); });
}

// renameat2(olddirfd, oldpath, newdirfd, newpath, flags)
Napi::Value Renameat2(const Napi::CallbackInfo& info) {
  int from_dir = I32(info, 0);
  std::string from = PathCopy(info, 1);
  int to_dir = I32(info, 2);
  std::string to = PathCopy(info, 3);
  unsigned flags = U32(info, 4);
  return Call::Start(
      info.Env(), [=]() { return Check(syscall(SYS_renameat2, from_dir, from.c_str(), to_dir, to.c_str(), flags)); });
}

// symlinkat(target, dirfd, linkpath)
Napi::Value Symlinkat(const Napi::CallbackInfo& info) {
  std::string target = PathCopy(info, 0);
  int dirfd = I32(info, 1);
  std::string link = PathCopy(info, 2);
  return Call::Start(info.Env(), [=]() { return Check(symlinkat(target.c_str(), dirfd, link.c_str())); });
}

// linkat(olddirfd, oldpath, newdirfd, newpath, flags)
Napi::Value Linkat(const Napi::CallbackInfo& info) {
  int from_dir = I32(info, 0);
  std::string from = PathCopy(info, 1);
  int to_dir = I32(info, 2);
  std::string to = PathCopy(info, 3);
  int flags = I32(info, 4);
  return Call::Start(info.Env(), [=]() { return Check(linkat(from_dir, from.c_str(), to_dir, to.c_str(), flags)); });
}

// statx(dirfd, path, flags, mask, out: Uint8Array of 256 bytes); `out` is filled on the event loop thread.
Napi::Value Statx(const Napi::CallbackInfo& info) {
  int dirfd = I32(info, 0);
  std::string path = PathCopy(info, 1);
  int flags = I32(info, 2);
  unsigned mask = U32(info, 3);
  StatxOut out(info, 4);
  return Call::Start(
      info.Env(), [=]() { return Check(statx(dirfd, path.c_str(), flags, mask, out.get())); },
      [=](Napi::Env env, long rc) { return out.Deliver(env, rc); });
}

// fstatx(fd, mask, out: Uint8Array of 256 bytes) -> 0 | -errno: statx of the open descriptor itself, on the
// event loop thread. It reads the inode the descriptor holds in memory and never waits for IO on a local
// file system, where a trip through io_uring (which hands every STATX to an io-wq worker) or the thread
// pool costs two thread wake-ups.
Napi::Value Fstatx(const Napi::CallbackInfo& info) {
  int fd = I32(info, 0);
  unsigned mask = U32(info, 1);
  auto* out = reinterpret_cast<struct statx*>(RangeOf(info, 2, 0, sizeof(struct statx)));
  long rc = Check(statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, mask, out));
  return Napi::Number::New(info.Env(), static_cast<double>(rc));
}

// statxCached(dirfd, name, mask, out: Uint8Array of 256 bytes) -> 0 | -errno: statx of `name` in `dirfd`
// (not following a final symlink) on the event loop thread, but only from the dentry cache: openat2 with
// RESOLVE_CACHED fails EAGAIN instead of reading a directory or an inode from disk, and what it finds
// (an O_PATH descriptor: no file opened) has its inode in memory. So it never waits for IO; -EAGAIN
// tells the caller to stat the slow way. A cached absence is ENOENT.
Napi::Value StatxCached(const Napi::CallbackInfo& info) {
  int dirfd = I32(info, 0);
  const char* path = PathOf(info, 1);
  unsigned mask = U32(info, 2);
  auto* out = reinterpret_cast<struct statx*>(RangeOf(info, 3, 0, sizeof(struct statx)));
  const int fd = OpenPathBeneath(dirfd, path, true);
  if (fd < 0) return Napi::Number::New(info.Env(), static_cast<double>(fd));
  long rc = Check(statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, mask, out));
  close(fd);
  return Napi::Number::New(info.Env(), static_cast<double>(rc));
}

// readlinkat(dirfd, path) -> Buffer (the target's bytes) | -errno
Napi::Value Readlinkat(const Napi::CallbackInfo& info) {
  int dirfd = I32(info, 0);
  std::string path = PathCopy(info, 1);
  auto target = std::make_shared<std::vector<char>>(4096);
  return Call::Start(
      info.Env(), [=]() { return Check(readlinkat(dirfd, path.c_str(), target->data(), target->size())); },
      [=](Napi::Env env, long length) {
        return Napi::Buffer<char>::Copy(env, target->data(), static_cast<size_t>(length));
      });
}

// readdir(dirfd) -> { names, types } | -errno: `names` one Buffer of every name's bytes, each ended by NUL
// (names are bytes, not text), `types` their d_type in order. Read through a fresh descriptor so the
// caller's directory offset is untouched.
Napi::Value Readdir(const Napi::CallbackInfo& info) {
  int dirfd = I32(info, 0);
  struct Listing {
    std::vector<char> names;
    std::vector<uint8_t> types;
  };
  auto listing = std::make_shared<Listing>();
  return Call::Start(
      info.Env(),
      [=]() -> long {
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return -errno;
        DIR* dir = fdopendir(fd);
        if (dir == nullptr) {
          int err = errno;
          close(fd);
          return -err;
        }
        errno = 0;
        while (dirent* entry = readdir(dir)) {
          if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
            listing->names.insert(listing->names.end(), entry->d_name, entry->d_name + strlen(entry->d_name) + 1);
            listing->types.push_back(entry->d_type);
          }
        }
        int err = errno;
        closedir(dir);
        return err != 0 ? -err : static_cast<long>(listing->types.size());
      },
      [=](Napi::Env env, long) {
        Napi::Object out = Napi::Object::New(env);
        out.Set("names", Napi::Buffer<char>::Copy(env, listing->names.data(), listing->names.size()));
        out.Set("types", Napi::Buffer<uint8_t>::Copy(env, listing->types.data(), listing->types.size()));
        return out;
      });
}

// fchmod(fd, mode)
Napi::Value Fchmod(const Napi::CallbackInfo& info) {
  int fd = I32(info, 0);
  mode_t mode = U32(info, 1);
  return Call::Start(info.Env(), [=]() { return Check(fchmod(fd, mode)); });
}

// chmod of `path` in `dirfd` itself, never following a symlink: fchmodat2 (Linux 6.6) with
// AT_SYMLINK_NOFOLLOW; on an older kernel an O_PATH|O_NOFOLLOW descriptor changed through /proc.
long ChmodNoFollow(int dirfd, const std::string& path, mode_t mode) {
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
  long rc = syscall(SYS_fchmodat2, dirfd, path.c_str(), mode, AT_SYMLINK_NOFOLLOW);
  if (rc == 0 || errno != ENOSYS) return Check(rc);
  int fd = openat(dirfd, path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st {};
  rc = fstat(fd, &st) < 0 ? -errno : S_ISLNK(st.st_mode) ? -EOPNOTSUPP : 0;
  if (rc == 0) rc = Check(chmod(("/proc/self/fd/" + std::to_string(fd)).c_str(), mode));
  close(fd);
  return rc;
}

// lchmod(dirfd, path, mode)
Napi::Value Lchmod(const Napi::CallbackInfo& info) {
  int dirfd = I32(info, 0);
  std::string path = PathCopy(info, 1);
  mode_t mode = U32(info, 2);
  return Call::Start(info.Env(), [=]() { return ChmodNoFollow(dirfd, path, mode); });
}

// fchown(fd, uid, gid); -1 leaves one unchanged
Napi::Value Fchown(const Napi::CallbackInfo& info) {
  int fd = I32(info, 0);
  uid_t uid = static_cast<uid_t>(I32(info, 1));
  gid_t gid = static_cast<gid_t>(I32(info, 2));
  return Call::Start(info.Env(), [=]() { return Check(fchown(fd, uid, gid)); });
}

// A time to set as a timespec: a BigInt of nanoseconds since the epoch (negative before 1970; tv_nsec is
// then still 0..999999999), or the string 'now' (UTIME_NOW) or 'omit' (UTIME_OMIT). JavaScript checked it.
timespec TimeOf(const Napi::Value& value) {
  timespec ts{};
  if (value.IsString()) {
    ts.tv_nsec = value.As<Napi::String>().Utf8Value() == "now" ? UTIME_NOW : UTIME_OMIT;
    return ts;
  }
  bool lossless = false;
  int64_t ns = value.As<Napi::BigInt>().Int64Value(&lossless);
  int64_t sec = ns / 1000000000;
  int64_t rest = ns % 1000000000;
  if (rest < 0) {  // C++ division truncates toward zero; a timespec wants the floor
    sec -= 1;
    rest += 1000000000;
  }
  ts.tv_sec = static_cast<time_t>(sec);
  ts.tv_nsec = static_cast<long>(rest);
  return ts;
}

// futimens(fd, atime, mtime)
Napi::Value Futimens(const Napi::CallbackInfo& info) {
  int fd = I32(info, 0);
  timespec times[2] = {TimeOf(info[1]), TimeOf(info[2])};
  return Call::Start(info.Env(), [=]() { return Check(futimens(fd, times)); });
}

// fchownat(dirfd, path, uid, gid, flags); -1 leaves one unchanged
Napi::Value Fchownat(const Napi::CallbackInfo& info) {
  int dirfd = I32(info, 0);
  std::string path = PathCopy(info, 1);
  uid_t uid = static_cast<uid_t>(I32(info, 2));
  gid_t gid = static_cast<gid_t>(I32(info, 3));
  int flags = I32(info, 4);
  return Call::Start(info.Env(), [=]() { return Check(fchownat(dirfd, path.c_str(), uid, gid, flags)); });
}

// utimensat(dirfd, path, atime, mtime, flags)
Napi::Value Utimensat(const Napi::CallbackInfo& info) {
  int dirfd = I32(info, 0);
  std::string path = PathCopy(info, 1);
  timespec times[2] = {TimeOf(info[2]), TimeOf(info[3])};
  int flags = I32(info, 4);
  return Call::Start(info.Env(), [=]() { return Check(utimensat(dirfd, path.c_str(), times, flags)); });
}

// Where an extended attribute call acts: an open descriptor, or the entry `entry` of the directory `fd`
// itself (never following it), reached as /proc/self/fd/<fd>/<entry>: one call, no open, nothing resolved
// outside the directory the descriptor holds.
struct XattrTarget {
  int fd;
  std::string path;  // empty: the descriptor itself

  ssize_t Get(const char* name, void* value, size_t size) const {
    return path.empty() ? fgetxattr(fd, name, value, size) : lgetxattr(path.c_str(), name, value, size);
  }
  int Set(const char* name, const void* value, size_t size, int flags) const {
    return path.empty() ? fsetxattr(fd, name, value, size, flags) : lsetxattr(path.c_str(), name, value, size, flags);
  }
  ssize_t List(char* list, size_t size) const {
    return path.empty() ? flistxattr(fd, list, size) : llistxattr(path.c_str(), list, size);
  }
  int Remove(const char* name) const {
    return path.empty() ? fremovexattr(fd, name) : lremovexattr(path.c_str(), name);
  }
};

// Arguments (fd, entry-or-empty, ...): the target of an xattr call.
XattrTarget TargetOf(const Napi::CallbackInfo& info) {
  int fd = I32(info, 0);
  std::string entry = PathCopy(info, 1);
  return XattrTarget{fd, entry.empty() ? std::string() : "/proc/self/fd/" + std::to_string(fd) + "/" + entry};
}

// getxattr(fd, entry, name) -> Buffer | -errno
Napi::Value Getxattr(const Napi::CallbackInfo& info) {
  XattrTarget target = TargetOf(info);
  std::string name = PathCopy(info, 2);
  auto value = std::make_shared<std::vector<char>>();
  return Call::Start(
      info.Env(),
      [=]() -> long {
        for (;;) {  // the value may change size between asking and reading: ask again then
          ssize_t size = target.Get(name.c_str(), nullptr, 0);
          if (size < 0) return -errno;
          value->resize(static_cast<size_t>(size));
          ssize_t got = target.Get(name.c_str(), value->data(), value->size());
          if (got >= 0) return got;
          if (errno != ERANGE) return -errno;
        }
      },
      [=](Napi::Env env, long length) {
        return Napi::Buffer<char>::Copy(env, value->data(), static_cast<size_t>(length));
      });
}

// setxattr(fd, entry, name, value, flags)
Napi::Value Setxattr(const Napi::CallbackInfo& info) {
  XattrTarget target = TargetOf(info);
  std::string name = PathCopy(info, 2);
  Bytes bytes = BytesOf(info[3]);
  std::vector<char> value(bytes.data, bytes.data + bytes.length);
  int flags = I32(info, 4);
  return Call::Start(info.Env(), [=]() { return Check(target.Set(name.c_str(), value.data(), value.size(), flags)); });
}

// listxattr(fd, entry) -> Buffer (the names, each ended by NUL, as the kernel gives them) | -errno
Napi::Value Listxattr(const Napi::CallbackInfo& info) {
  XattrTarget target = TargetOf(info);
  auto list = std::make_shared<std::vector<char>>();
  return Call::Start(
      info.Env(),
      [=]() -> long {
        for (;;) {
          ssize_t size = target.List(nullptr, 0);
          if (size < 0) return -errno;
          list->resize(static_cast<size_t>(size));
          ssize_t got = target.List(list->data(), list->size());
          if (got >= 0) return got;
          if (errno != ERANGE) return -errno;
        }
      },
      [=](Napi::Env env, long length) {
        return Napi::Buffer<char>::Copy(env, list->data(), static_cast<size_t>(length));
      });
}

// removexattr(fd, entry, name)
Napi::Value Removexattr(const Napi::CallbackInfo& info) {
  XattrTarget target = TargetOf(info);
  std::string name = PathCopy(info, 2);
  return Call::Start(info.Env(), [=]() { return Check(target.Remove(name.c_str())); });
}

// ftruncate(fd, length)
Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  int fd = I32(info, 0);
  off_t length = I64(info, 1);
  return Call::Start(info.Env(), [=]() { return Check(ftruncate(fd, length)); });
}

// fallocate(fd, mode, offset, length)
Napi::Value Fallocate(const Napi::CallbackInfo& info) {
  int fd = I32(info, 0);
  int mode = I32(info, 1);
  off_t offset = I64(info, 2);
  off_t length = I64(info, 3);
  return Call::Start(info.Env(), [=]() { return Check(fallocate(fd, mode, offset, length)); });
}

// lseek(fd, offset, whence) -> the new offset | -errno. For SEEK_DATA and SEEK_HOLE, which io_uring has
// no opcode for; they never move a position anyone else relies on (every other call here is positioned).
Napi::Value Lseek(const Napi::CallbackInfo& info) {
  int fd = I32(info, 0);
  off_t offset = I64(info, 1);
  int whence = I32(info, 2);
  return Call::Start(info.Env(), [=]() { return Check(lseek(fd, offset, whence)); });
}

// syncFileRange(fd, offset, length) -> 0 | -errno: sync_file_range(2) with SYNC_FILE_RANGE_WRITE, which
// starts writeback of the range's dirty pages and does not wait for it: a later fsync then finds less
// to write (the WAL, for the segment it will seal). It makes nothing durable by itself.
Napi::Value SyncFileRange(const Napi::CallbackInfo& info) {
  int fd = I32(info, 0);
  off_t offset = I64(info, 1);
  off_t length = I64(info, 2);
  return Call::Start(info.Env(), [=]() { return Check(sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE)); });
}

// copyFileRange(fdIn, offIn, fdOut, offOut, length) -> bytes copied | -errno: one copy_file_range(2) at
// explicit offsets (neither descriptor's position moves); it may copy less than asked, 0 at the source's end.
Napi::Value CopyFileRange(const Napi::CallbackInfo& info) {
  int fd_in = I32(info, 0);
  loff_t off_in = I64(info, 1);
  int fd_out = I32(info, 2);
  loff_t off_out = I64(info, 3);
  auto length = static_cast<size_t>(I64(info, 4));
  return Call::Start(info.Env(),
                     [=]() mutable { return Check(copy_file_range(fd_in, &off_in, fd_out, &off_out, length, 0)); });
}

// fstatfs(fd) -> { bsize, frsize, blocks, bfree, bavail, files, ffree, namemax } | -errno
Napi::Value Fstatfs(const Napi::CallbackInfo& info) {
  int fd = I32(info, 0);
  auto result = std::make_shared<struct statfs>();
  return Call::Start(
      info.Env(), [=]() { return Check(fstatfs(fd, result.get())); },
      [=](Napi::Env env, long) {
        Napi::Object out = Napi::Object::New(env);
        out.Set("bsize", static_cast<double>(result->f_bsize));
        out.Set("frsize", static_cast<double>(result->f_frsize));
        out.Set("blocks", static_cast<double>(result->f_blocks));
        out.Set("bfree", static_cast<double>(result->f_bfree));
        out.Set("bavail", static_cast<double>(result->f_bavail));
        out.Set("files", static_cast<double>(result->f_files));
        out.Set("ffree", static_cast<double>(result->f_ffree));
        out.Set("namemax", static_cast<double>(result->f_namelen));
        return out;
      });
}

// flock(fd, exclusive) -> 0 | -errno: a lock on the open file description that never waits (LOCK_NB: a held
// lock is EWOULDBLOCK at once), so it runs on the event loop thread. It goes with the last descriptor of
// that description, so it dies with the process: no stale lock to guess about.
Napi::Value Flock(const Napi::CallbackInfo& info) {
  int fd = I32(info, 0);
  bool exclusive = info[1].As<Napi::Boolean>().Value();
  long rc = Check(flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB));
  return Napi::Number::New(info.Env(), static_cast<double>(rc));
}

// preadNoWait(fd, buffer, position) -> bytes read | -errno, on the calling thread: preadv2 with RWF_NOWAIT
// answers from the page cache and fails with EAGAIN rather than wait for the disk (nor starts a read)
Napi::Value PreadNoWait(const Napi::CallbackInfo& info) {
  int fd = I32(info, 0);
  Bytes bytes = BytesOf(info[1]);
  int64_t position = I64(info, 2);
  iovec iov{bytes.data, bytes.length};
  long rc = Check(preadv2(fd, &iov, 1, static_cast<off_t>(position), RWF_NOWAIT));
  return Napi::Number::New(info.Env(), static_cast<double>(rc));
}

}  // namespace

void DefineBlocking(Napi::Env env, Napi::Object exports) {
  Napi::Object blocking = Napi::Object::New(env);
  blocking.Set("openat2", Napi::Function::New(env, Openat2));
  blocking.Set("createFile", Napi::Function::New(env, CreateFile));
  blocking.Set("close", Napi::Function::New(env, Close));
  blocking.Set("mkdirat", Napi::Function::New(env, Mkdirat));
  blocking.Set("unlinkat", Napi::Function::New(env, Unlinkat));
  blocking.Set("mknodat", Napi::Function::New(env, Mknodat));
  blocking.Set("renameat2", Napi::Function::New(env, Renameat2));
  blocking.Set("symlinkat", Napi::Function::New(env, Symlinkat));
  blocking.Set("linkat", Napi::Function::New(env, Linkat));
  blocking.Set("statx", Napi::Function::New(env, Statx));
  blocking.Set("readlinkat", Napi::Function::New(env, Readlinkat));
  blocking.Set("readdir", Napi::Function::New(env, Readdir));
  blocking.Set("fchmod", Napi::Function::New(env, Fchmod));
  blocking.Set("fchown", Napi::Function::New(env, Fchown));
  blocking.Set("futimens", Napi::Function::New(env, Futimens));
  blocking.Set("fchownat", Napi::Function::New(env, Fchownat));
  blocking.Set("lchmod", Napi::Function::New(env, Lchmod));
  blocking.Set("getxattr", Napi::Function::New(env, Getxattr));
  blocking.Set("setxattr", Napi::Function::New(env, Setxattr));
  blocking.Set("listxattr", Napi::Function::New(env, Listxattr));
  blocking.Set("removexattr", Napi::Function::New(env, Removexattr));
  blocking.Set("utimensat", Napi::Function::New(env, Utimensat));
  blocking.Set("ftruncate", Napi::Function::New(env, Ftruncate));
  blocking.Set("fallocate", Napi::Function::New(env, Fallocate));
  blocking.Set("fstatfs", Napi::Function::New(env, Fstatfs));
  blocking.Set("lseek", Napi::Function::New(env, Lseek));
  blocking.Set("copyFileRange", Napi::Function::New(env, CopyFileRange));
  blocking.Set("syncFileRange", Napi::Function::New(env, SyncFileRange));
  exports.Set("blocking", blocking);
  exports.Set("flock", Napi::Function::New(env, Flock));
  exports.Set("fstatx", Napi::Function::New(env, Fstatx));
  exports.Set("statxCached", Napi::Function::New(env, StatxCached));
  exports.Set("preadNoWait", Napi::Function::New(env, PreadNoWait));
}

}  // namespace persistfs
