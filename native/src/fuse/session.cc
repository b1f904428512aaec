// See session.h. Each reader thread owns its ring and data path; the JavaScript thread owns its replies,
// mount and teardown.
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>

#include "../args.h"
#include "protocol.h"

namespace persistfs::fuse {

namespace {

// Requests up to this size are copied out of the read buffer into one of their own size; a larger one
// (a big WRITE) takes the read buffer itself and the reader allocates a fresh one.
constexpr size_t kCopyLimit = 64 * 1024;
// At most this many iovecs in one reply (the out header included).
constexpr size_t kMaxReplyParts = 64;
// The reader's ring: room for the IO of every request the kernel can have in flight.
constexpr unsigned kRingEntries = 256;
// Readers: kReadersPerCpu for each CPU this process may run on, at least kMinReaders, at most kMaxReaders.
// Requests from several processes are read, and their IO done, side by side. More readers than CPUs because a
// request wakes the reader that waited longest (the device's wait queue is exclusive and FIFO), and the CPU it
// is woken on decides what a request at a time costs: with one reader a CPU the woken reader mostly ran on
// the other CPU than its caller (a wake-up of a halted vCPU each way, 8-10 us more a request), with 8 on 2
// CPUs mostly on the caller's. Measured (BENCHMARKS.md, session 48): a cold stat loop 20-26K -> 28-34K
// files/s, a delete loop 5.8-6.8K -> 6.4-9.4K; the data jobs within their swing.
constexpr int kReadersPerCpu = 4;
constexpr int kMinReaders = 8;
constexpr int kMaxReaders = 32;
// What the readers keep between them, shared out (at least one pipe, two buffers each): the pipes READ
// replies are spliced through (1-2 MiB each; an ordinary user may have 16,384 pages of pipes in all,
// /proc/sys/fs/pipe-user-pages-soft) and the spare read buffers (1 MiB each) that big WRITEs are handed.
constexpr size_t kPipesInAll = 32;
constexpr size_t kSparesInAll = 32;

int CpusToRunOn() {
  cpu_set_t cpus;
  if (sched_getaffinity(0, sizeof cpus, &cpus) == 0) return std::max(1, CPU_COUNT(&cpus));
  return std::max(1, get_nprocs());
}

int ReaderCount() { return std::clamp(kReadersPerCpu * CpusToRunOn(), kMinReaders, kMaxReaders); }
// user_data of the reader's two polls (an operation of the data path is a pointer, never these)
constexpr uint64_t kFuseReadable = 1;
constexpr uint64_t kStopAsked = 2;

Napi::Error ErrnoError(Napi::Env env, const std::string& what, int error) {
  auto e = Napi::Error::New(env, what + ": " + strerror(error));
  e.Set("errno", Napi::Number::New(env, error));
  return e;
}

void FreeRequest(Napi::Env, uint8_t* data) { std::free(data); }

// A call into JavaScript from the event loop (no JavaScript below it): its microtasks run after it, and an
// exception it lets out is the process's uncaught exception.
void Call(Napi::FunctionReference& function, const std::initializer_list<napi_value>& args) {
  try {
    function.MakeCallback(function.Env().Global(), args);
  } catch (const Napi::Error& error) {
    napi_fatal_exception(function.Env(), error.Value());
  }
}

// A reader blocked in a read of its clone of /dev/fuse is woken at a stop by this signal, sent to its thread
// alone (pthread_kill): a real-time signal nothing else sends, whose handler does nothing and is installed
// without SA_RESTART, so that the read fails with EINTR. Not taken when the process handles it already.
int WakeSignal() { return SIGRTMIN + 5; }

void Woken(int) {}

bool TakeWakeSignal() {
  static const bool taken = [] {
    struct sigaction before {};
    if (sigaction(WakeSignal(), nullptr, &before) != 0) return false;
    if ((before.sa_flags & SA_SIGINFO) != 0 || before.sa_handler != SIG_DFL) return false;
    struct sigaction action {};
    action.sa_handler = Woken;
    sigemptyset(&action.sa_mask);
    return sigaction(WakeSignal(), &action, nullptr) == 0;
  }();
  return taken;
}

// A clone of the session's /dev/fuse descriptor (FUSE_DEV_IOC_CLONE): the same connection, its own queue of
// requests being answered, so that a request read from it is answered through it. -1 when none can be had.
int CloneDevice(int fd) {
  int clone = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (clone < 0) return -1;
  uint32_t session = static_cast<uint32_t>(fd);
  if (ioctl(clone, _IOR(229, 0, uint32_t), &session) == 0) return clone;
  close(clone);
  return -1;
}

// The descriptor fusermount3 sends over `socket` (one byte of data, the fd as SCM_RIGHTS), or -errno.
int ReceiveFd(int socket) {
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  if (n == 0 || !header || header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) return -EIO;
  int fd;
  std::memcpy(&fd, CMSG_DATA(header), sizeof fd);
  return fd;
}

}  // namespace

Napi::Function FuseSession::Define(Napi::Env env) {
  return DefineClass(env, "FuseSession",
                     {
                         InstanceMethod<&FuseSession::Mount>("mount"),
                         InstanceMethod<&FuseSession::MountWithFusermount>("mountWithFusermount"),
                         InstanceMethod<&FuseSession::Start>("start"),
                         InstanceMethod<&FuseSession::StartUring>("startUring"),
                         InstanceMethod<&FuseSession::RegisterUring>("registerUring"),
                         InstanceMethod<&FuseSession::BackingOpen>("backingOpen"),
                         InstanceMethod<&FuseSession::BackingClose>("backingClose"),
                         InstanceMethod<&FuseSession::Reply>("reply"),
                         InstanceMethod<&FuseSession::Unmount>("unmount"),
                         InstanceMethod<&FuseSession::Close>("close"),
                         InstanceMethod<&FuseSession::Attach>("attach"),
                         InstanceMethod<&FuseSession::AttachDirectory>("attachDirectory"),
                         InstanceMethod<&FuseSession::DetachDirectory>("detachDirectory"),
                         InstanceMethod<&FuseSession::AttachAttributes>("attachAttributes"),
                         InstanceMethod<&FuseSession::Removed>("removed"),
                         InstanceMethod<&FuseSession::Hold>("hold"),
                         InstanceMethod<&FuseSession::GiveCreateSlot>("giveCreateSlot"),
                         InstanceMethod<&FuseSession::AbsentXattr>("absentXattr"),
                         InstanceMethod<&FuseSession::ForgetXattrs>("forgetXattrs"),
                         InstanceMethod<&FuseSession::NoXattrs>("noXattrs"),
                         InstanceMethod<&FuseSession::AbsentName>("absentName"),
                         InstanceMethod<&FuseSession::Named>("named"),
                         InstanceMethod<&FuseSession::Unnamed>("unnamed"),
                         InstanceMethod<&FuseSession::Settle>("settle"),
                         StaticMethod<&FuseSession::EntryOf>("entryOf"),
                         InstanceMethod<&FuseSession::Counters>("counters"),
                         InstanceAccessor<&FuseSession::Fd>("fd"),
                     });
}

// new FuseSession(onRequests(buffers: Buffer[], released: number[]), onEnd(errno: number)); released holds
// pairs of handle and node that the data path answered RELEASE for.
FuseSession::FuseSession(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<FuseSession>(info), files_([this](uint64_t fh, uint64_t nodeid, bool made_here) {
        // a file the data path made closes in JavaScript at its next wake-up (see Enqueue), from a /dev/fuse
        // reader or an io_uring queue: nothing it is asked can find the handle any more, and what it learns of
        // the node comes in order before
        Wakeup wakeup = Wakeup::kNow;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          released_.push_back(fh);
          released_.push_back(nodeid);
          if (made_here) wakeup = QueueLazy();
        }
        Wake(wakeup);
      }) {
  on_requests_ = Napi::Persistent(info[0].As<Napi::Function>());
  on_end_ = Napi::Persistent(info[1].As<Napi::Function>());
}

FuseSession::~FuseSession() {
  StopReader();
  queues_.clear();
  if (wake_ != nullptr) {  // gone before its end was reported: nothing is left to report it to
    wake_->data = nullptr;
    lazy_timer_->data = nullptr;
    CloseWake();
  }
  for (auto& request : queue_) std::free(request.data);
  if (fd_ >= 0) close(fd_);
}

Napi::Value FuseSession::Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

// mount(source, target, fstype, options, readOnly): opens /dev/fuse and mounts it with "fd=N," + options;
// read-only (MS_RDONLY: the kernel answers EROFS to every change) when readOnly is true.
Napi::Value FuseSession::Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ >= 0) throw Napi::Error::New(env, "this session is already mounted");
  std::string source = info[0].As<Napi::String>();
  std::string target = info[1].As<Napi::String>();
  std::string fstype = info[2].As<Napi::String>();
  std::string options = info[3].As<Napi::String>();
  bool read_only = info.Length() > 4 && info[4].ToBoolean().Value();
  // non-blocking: the reader polls, so that it can also be told to stop
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw ErrnoError(env, "open /dev/fuse", errno);
  std::string data = "fd=" + std::to_string(fd) + (options.empty() ? "" : "," + options);
  if (mount(source.c_str(), target.c_str(), fstype.c_str(), MS_NOSUID | MS_NODEV | (read_only ? MS_RDONLY : 0),
            data.c_str()) != 0) {
    int error = errno;
    close(fd);
    throw ErrnoError(env, "mount " + target, error);
  }
  fd_ = fd;
  return env.Undefined();
}

// mountWithFusermount(target, options): runs `fusermount3 -o options -- target` with _FUSE_COMMFD naming
// one end of a socket pair, and takes the /dev/fuse descriptor it sends back (libfuse's protocol for
// mounts by ordinary users). Waits for fusermount3, which takes milliseconds, once per mount.
Napi::Value FuseSession::MountWithFusermount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ >= 0) throw Napi::Error::New(env, "this session is already mounted");
  std::string target = info[0].As<Napi::String>();
  std::string options = info[1].As<Napi::String>();
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) throw ErrnoError(env, "socketpair", errno);
  fcntl(pair[0], F_SETFD, FD_CLOEXEC);  // ours; pair[1] is inherited by fusermount3
  std::string commfd = "_FUSE_COMMFD=" + std::to_string(pair[1]);
  std::vector<char*> envp;
  for (char** e = environ; *e; e++) {
    if (std::strncmp(*e, "_FUSE_COMMFD=", 13) != 0) envp.push_back(*e);
  }
  envp.push_back(commfd.data());
  envp.push_back(nullptr);
  std::string program = "fusermount3", dashO = "-o", dashes = "--";
  char* argv[] = {program.data(), dashO.data(), options.data(), dashes.data(), target.data(), nullptr};
  pid_t pid;
  int spawned = posix_spawnp(&pid, "fusermount3", nullptr, nullptr, argv, envp.data());
  close(pair[1]);
  if (spawned != 0) {
    close(pair[0]);
    throw ErrnoError(env, "spawn fusermount3", spawned);
  }
  int fd = ReceiveFd(pair[0]);
  close(pair[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (fd < 0) {
    auto e = Napi::Error::New(env, "fusermount3 could not mount " + target + " (exit status " +
                                       std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                                       ", see its message above)");
    e.Set("errno", Napi::Number::New(env, -fd));
    throw e;
  }
  // non-blocking, as in mount(): the reader polls
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  fd_ = fd;
  return env.Undefined();
}

// start(bufferSize, attrValidSeconds, attrValidNanoseconds, entryValidSeconds, entryValidNanoseconds,
// spliceMinimum, spliceDrain, statx, changesNames): starts the reader; bufferSize is max_write plus room for the
// headers; the attribute timeout is what the data path's GETATTR replies carry, the entry timeout its replies to a
// LOOKUP of an absent name; READ replies of at least spliceMinimum bytes go by splice (0 or absent: none), and with
// spliceDrain (tests) each is read back and sent by copy instead (data-path.h ReplySplice); with statx, the
// data path answers STATX where it answers GETATTR (the mount serves STATX: data-path.h Timeouts); with
// changesNames it makes UNLINKs and CREATEs' files itself (the storage is not read-only).
Napi::Value FuseSession::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) throw Napi::Error::New(env, "mount first");
  if (!readers_.empty()) throw Napi::Error::New(env, "the readers are running already");
  buffer_size_ = std::max<size_t>(static_cast<size_t>(I64(info, 0)), kMinReadBuffer);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) throw ErrnoError(env, "eventfd", errno);
  timeouts_ = {static_cast<uint64_t>(I64(info, 1)),
               static_cast<uint32_t>(I64(info, 2)),
               static_cast<uint64_t>(I64(info, 3)),
               static_cast<uint32_t>(I64(info, 4)),
               info.Length() > 7 && info[7].ToBoolean().Value(),
               info.Length() > 8 && info[8].ToBoolean().Value()};
  splice_.minimum = info.Length() > 5 ? static_cast<size_t>(std::max<int64_t>(I64(info, 5), 0)) : 0;
  splice_.drain = info.Length() > 6 && info[6].ToBoolean().Value();
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  wake_ = new uv_async_t;
  wake_->data = this;
  uv_async_init(loop, wake_, &FuseSession::OnWake);  // referenced: the loop lives while the readers do
  lazy_timer_ = new uv_timer_t;
  lazy_timer_->data = this;
  uv_timer_init(loop, lazy_timer_);
  stopping_ = false;
  const bool clones = TakeWakeSignal();
  const int count = ReaderCount();
  for (int i = 0; i < count; i++) {
    readers_.push_back(std::make_unique<Reader>());
    if (clones) readers_.back()->fd = CloneDevice(fd_);
  }
  int failed = 0;
  for (auto& reader : readers_) {
    Reader* r = reader.get();
    try {
      r->thread = std::thread([this, r] {
        ReadLoop(*r);
        r->done = true;
      });
      readers_started_++;
    } catch (const std::system_error& error) {
      // out of threads (a process or cgroup limit): the readers started serve, this one counts as ended
      failed = error.code().value();
      r->done = true;
      Finish(0);
    }
  }
  if (readers_started_ == 0) throw ErrnoError(env, "could not start a thread to read /dev/fuse", failed);
  thread_reads_limit_ = readers_started_ / 2;
  return env.Undefined();
}

// attach(fh, fd, nodeid, size: Float64Array(1), byStorage[, ready, served: Float64Array(1)[, changes:
// Uint32Array(1)]]): from now on the data path serves handle fh, an open file of node `nodeid` whose storage
// descriptor is fd and whose storage size is size[0] (raised by writes past it). byStorage: bit 1, its FSYNC
// goes to JavaScript (the storage's sync does more than an fdatasync of fd); bit 2, its FLUSH too (the
// storage's flush uploads); bit 4, its GETATTR and its WRITEs that may remove privilege bits too (fd's own
// mode, owner and inode are not the file's: a tiered adapter's local copy). With ready (a file still being filled), a
// READ ending past ready[0] goes to JavaScript, and served[0] is raised to the end of each READ answered here. With
// changes, changes[0] is raised by one as each WRITE served here ends; with mode (and bit 4), a WRITE that may
// remove privilege bits reads the file's mode in mode[0] (JavaScript keeps it current) to know whether it must. Until
// RELEASE, which JavaScript learns of through onRequests' second argument.
Napi::Value FuseSession::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (readers_.empty()) throw Napi::Error::New(env, "start first");
  auto fh = static_cast<uint64_t>(I64(info, 0));
  auto cell = info[3].As<Napi::Float64Array>();
  if (cell.ElementLength() < 1) throw Napi::RangeError::New(env, "the size cell is a Float64Array of one element");
  auto address = [](Napi::TypedArray array) {
    return static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  };
  std::vector<Napi::Reference<Napi::TypedArray>> kept;
  kept.push_back(Napi::Persistent(Napi::TypedArray(cell)));
  const uint32_t by_storage = info[4].ToNumber().Uint32Value();
  AttachOptions options;
  options.sync_by_storage = (by_storage & 1) != 0;
  options.flush_by_storage = (by_storage & 2) != 0;
  options.attributes_by_storage = (by_storage & 4) != 0;
  if (info.Length() > 6 && info[5].IsTypedArray() && info[6].IsTypedArray()) {
    auto ready_cell = info[5].As<Napi::Float64Array>();
    auto served_cell = info[6].As<Napi::Float64Array>();
    if (ready_cell.ElementLength() < 1 || served_cell.ElementLength() < 1)
      throw Napi::RangeError::New(env, "the ready and served cells are Float64Arrays of one element");
    options.ready = reinterpret_cast<const uint64_t*>(address(ready_cell));
    options.served = reinterpret_cast<uint64_t*>(address(served_cell));
    kept.push_back(Napi::Persistent(Napi::TypedArray(ready_cell)));
    kept.push_back(Napi::Persistent(Napi::TypedArray(served_cell)));
  }
  if (info.Length() > 7 && info[7].IsTypedArray()) {
    auto changes_cell = info[7].As<Napi::TypedArray>();
    if (changes_cell.TypedArrayType() != napi_uint32_array || changes_cell.ElementLength() < 1)
      throw Napi::RangeError::New(env, "the changes cell is a Uint32Array of one element");
    options.changes = reinterpret_cast<uint32_t*>(address(changes_cell));
    kept.push_back(Napi::Persistent(changes_cell));
  }
  if (info.Length() > 8 && info[8].IsTypedArray()) {
    auto mode_cell = info[8].As<Napi::TypedArray>();
    if (mode_cell.TypedArrayType() != napi_uint32_array || mode_cell.ElementLength() < 1)
      throw Napi::RangeError::New(env, "the mode cell is a Uint32Array of one element");
    options.mode = reinterpret_cast<const uint32_t*>(address(mode_cell));
    kept.push_back(Napi::Persistent(mode_cell));
  }
  // added to what the handle holds already: a file the data path made keeps its slot's cell until released
  // (an operation begun before this attach may still raise it)
  std::vector<Napi::Reference<Napi::TypedArray>>& held = cells_[fh];
  for (auto& reference : kept) held.push_back(std::move(reference));
  files_.Attach(fh, I32(info, 1), static_cast<uint64_t>(I64(info, 2)), reinterpret_cast<uint64_t*>(address(cell)),
                options);
  return env.Undefined();
}

// attachDirectory(nodeid, fd, ino: bigint, born: bigint, kept: string[]): from now on the data path answers
// GETATTR of node `nodeid`, inode `ino` born `born` (ino 0n: not checked; born 0n: the number alone, see
// FileId in node-table.h), the directory open as fd, with a statx of a duplicate of
// fd, and LOOKUPs of names it does not have but those in `kept` (node-table.h); 0, or an errno (EMFILE:
// too many, ESTALE: fd is not that directory).
Napi::Value FuseSession::AttachDirectory(const Napi::CallbackInfo& info) {
  bool lossless;
  const FileId file{info[2].As<Napi::BigInt>().Uint64Value(&lossless),
                    info[3].As<Napi::BigInt>().Uint64Value(&lossless)};
  std::vector<std::string> kept;
  if (info.Length() > 4 && info[4].IsArray()) {
    auto names = info[4].As<Napi::Array>();
    for (uint32_t i = 0; i < names.Length(); i++) kept.push_back(names.Get(i).As<Napi::String>().Utf8Value());
  }
  return Napi::Number::New(
      info.Env(), nodes_.AttachDirectory(static_cast<uint64_t>(I64(info, 0)), I32(info, 1), file, std::move(kept)));
}

// attachAttributes(nodeid, body: Buffer, validNs: number): the data path answers GETATTR of node `nodeid` (a
// directory without a descriptor) with `body`, a fuse_attr_out, for `validNs` from now (node-table.h).
Napi::Value FuseSession::AttachAttributes(const Napi::CallbackInfo& info) {
  auto body = info[1].As<Napi::Buffer<uint8_t>>();
  if (body.Length() != sizeof(AttrOut)) {
    Napi::TypeError::New(info.Env(), "attachAttributes: the body must be a fuse_attr_out (104 bytes)")
        .ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  AttrOut out;
  std::memcpy(&out, body.Data(), sizeof out);
  nodes_.AttachAttributes(static_cast<uint64_t>(I64(info, 0)), out,
                          MonotonicNs() + static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value()));
  return info.Env().Undefined();
}

// detachDirectory(nodeid): JavaScript answers its GETATTR again (the node lost its name, or was forgotten, or
// its attributes are changing): the directory's descriptor, or its given attributes, are let go.
Napi::Value FuseSession::DetachDirectory(const Napi::CallbackInfo& info) {
  nodes_.DetachDirectory(static_cast<uint64_t>(I64(info, 0)));
  return info.Env().Undefined();
}

// removed(nodeid): node `nodeid` lost its last name with no handle open: the data path answers its
// GETATTR and SETATTR with ENOENT (node-table.h).
Napi::Value FuseSession::Removed(const Napi::CallbackInfo& info) {
  nodes_.Removed(static_cast<uint64_t>(I64(info, 0)), MonotonicNs());
  return info.Env().Undefined();
}

// hold(nodeid, delta): node `nodeid` gains (1) or loses (-1) a hold, an open handle or an OPEN under way; an
// UNLINK the data path makes of a held node leaves marking it removed to JavaScript (node-table.h, "Unlinks").
Napi::Value FuseSession::Hold(const Napi::CallbackInfo& info) {
  nodes_.Hold(static_cast<uint64_t>(I64(info, 0)), I64(info, 1));
  return info.Env().Undefined();
}

// giveCreateSlot(nodeid, fh, sizeCell): node id `nodeid` and handle `fh`, which JavaScript gives nothing else,
// and `sizeCell` (a Float64Array of one element, 0) for a CREATE the data path answers itself (file-table.h,
// data-path.cc AnswerCreate): the file it makes is attached as handle `fh`, its size in `sizeCell`, and
// JavaScript hears of it before the reply (a request copy with "answered" after it).
Napi::Value FuseSession::GiveCreateSlot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto fh = static_cast<uint64_t>(I64(info, 1));
  auto cell = info[2].As<Napi::Float64Array>();
  if (cell.ElementLength() < 1) throw Napi::RangeError::New(env, "the size cell is a Float64Array of one element");
  auto* size = reinterpret_cast<uint64_t*>(static_cast<uint8_t*>(cell.ArrayBuffer().Data()) + cell.ByteOffset());
  std::vector<Napi::Reference<Napi::TypedArray>> kept;
  kept.push_back(Napi::Persistent(Napi::TypedArray(cell)));
  cells_[fh] = std::move(kept);  // until the data path reports the handle released (Drain)
  files_.GiveSlot(CreateSlot{static_cast<uint64_t>(I64(info, 0)), fh, size});
  return env.Undefined();
}

// absentXattr(nodeid, name): JavaScript answered GETXATTR `name` (a string: its UTF-8 bytes) of node `nodeid`
// ENODATA; the data path answers the next ones (node-table.h, "Absent extended attributes").
Napi::Value FuseSession::AbsentXattr(const Napi::CallbackInfo& info) {
  const uint64_t nodeid = static_cast<uint64_t>(I64(info, 0));
  const std::string name = info[1].As<Napi::String>().Utf8Value();
  // the name is learned from a file on the root's file system only (checked once per name: from the
  // dentry cache, which the GETXATTR that found the absence has just filled)
  nodes_.AbsentXattr(nodeid, name, !nodes_.AbsentName(name) && nodes_.OnRootFileSystem(nodeid));
  return info.Env().Undefined();
}

// noXattrs(nodeid) -> boolean: JavaScript found node `nodeid` without any attribute; where its file is on the
// root's file system, the data path answers GETXATTRs of it ENODATA for the names known absent there, and
// the answer is true (node-table.h, "Absent extended attributes").
Napi::Value FuseSession::NoXattrs(const Napi::CallbackInfo& info) {
  const uint64_t nodeid = static_cast<uint64_t>(I64(info, 0));
  const bool here = nodes_.OnRootFileSystem(nodeid);
  if (here) nodes_.NoXattrs(nodeid);
  return Napi::Boolean::New(info.Env(), here);
}

// absentName(name) -> boolean: whether GETXATTR `name` of a file on the root's file system was answered
// ENODATA, so that its absence from a file's list of attributes means ENODATA.
Napi::Value FuseSession::AbsentName(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), nodes_.AbsentName(info[0].As<Napi::String>().Utf8Value()));
}

// forgetXattrs(): an attribute is being set or removed; no absence is known any more.
Napi::Value FuseSession::ForgetXattrs(const Napi::CallbackInfo& info) {
  nodes_.ForgetXattrs();
  return info.Env().Undefined();
}

// named(parent, name, nodeid, ino: bigint, born: bigint): JavaScript answered `name` (a string: its UTF-8 bytes)
// in directory node `parent` with node `nodeid`, file (ino, born); a LOOKUP of it that finds that file is
// answered natively.
Napi::Value FuseSession::Named(const Napi::CallbackInfo& info) {
  bool lossless;
  const FileId file{info[3].As<Napi::BigInt>().Uint64Value(&lossless),
                    info[4].As<Napi::BigInt>().Uint64Value(&lossless)};
  const std::string name = info[1].As<Napi::String>().Utf8Value();
  nodes_.Named(static_cast<uint64_t>(I64(info, 0)), name, static_cast<uint64_t>(I64(info, 2)), file);
  return info.Env().Undefined();
}

// unnamed(parent, name): the name left the node JavaScript gave it; before the reply that says so is written.
// Returns the removal's number (node-table.h, Removals; below 2^53).
Napi::Value FuseSession::Unnamed(const Napi::CallbackInfo& info) {
  const std::string name = info[1].As<Napi::String>().Utf8Value();
  return Napi::Number::New(info.Env(), static_cast<double>(nodes_.Unnamed(static_cast<uint64_t>(I64(info, 0)), name)));
}

// settle(nodeid, lookups, drop): JavaScript's count of the node plus the lookups answered natively (taken);
// with drop, a total of 0 or less also removes the node's names, atomically (node-table.h).
Napi::Value FuseSession::Settle(const Napi::CallbackInfo& info) {
  const int64_t total = nodes_.Settle(static_cast<uint64_t>(I64(info, 0)), I64(info, 1), info[2].ToBoolean());
  return Napi::Number::New(info.Env(), static_cast<double>(total));
}

// FuseSession.entryOf(statx: Uint8Array(256), nodeid, attrSeconds, attrNanoseconds, entrySeconds,
// entryNanoseconds): the fuse_entry_out the data path answers a known name's LOOKUP with (for tests).
Napi::Value FuseSession::EntryOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto bytes = info[0].As<Napi::Uint8Array>();
  struct statx stx;
  if (bytes.ByteLength() < sizeof stx) throw Napi::RangeError::New(env, "a struct statx is 256 bytes");
  std::memcpy(&stx, bytes.Data(), sizeof stx);
  DataPath::Timeouts timeouts{static_cast<uint64_t>(I64(info, 2)), static_cast<uint32_t>(I64(info, 3)),
                              static_cast<uint64_t>(I64(info, 4)), static_cast<uint32_t>(I64(info, 5)), false};
  const EntryOut out = persistfs::fuse::EntryOf(static_cast<uint64_t>(I64(info, 1)), stx, timeouts);
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(&out), sizeof out);
}

// counters(): whether the data path runs, what it did, and the FUSE-over-io_uring queues.
Napi::Value FuseSession::Counters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto result = Napi::Object::New(env);
  auto number = [&](const char* name, uint64_t value) {
    result.Set(name, Napi::Number::New(env, static_cast<double>(value)));
  };
  result.Set("native", Napi::Boolean::New(env, native_.load()));
  number("readers", readers_started_);
  number("served", counters_.served.load());
  number("forwarded", counters_.forwarded.load());
  number("bytesRead", counters_.bytes_read.load());
  number("bytesWritten", counters_.bytes_written.load());
  number("writes", counters_.writes.load());
  number("largestWrite", counters_.largest_write.load());
  number("writebacks", counters_.writebacks.load());
  number("cachedReads", counters_.cached_reads.load());
  number("cacheTriesSkipped", counters_.cache_tries_skipped.load());
  number("emptyReads", empty_reads_.load());
  number("drains", drains_.load());
  number("urgentWakes", urgent_wakes_.load());
  number("threadReads", counters_.thread_reads.load());
  number("mostThreadReads", counters_.most_thread_reads.load());
  number("threadWrites", counters_.thread_writes.load());
  number("writeWaits", counters_.write_waits.load());
  number("splicedReads", counters_.spliced_reads.load());
  number("spliceFallbacks", counters_.splice_fallbacks.load());
  number("splicePipesBusy", counters_.splice_pipes_busy.load());
  number("spliceUncached", counters_.splice_uncached.load());
  number("knownLookups", counters_.known_lookups.load());
  number("givenAttributes", counters_.given_attributes.load());
  number("xattrLists", counters_.xattr_lists.load());
  number("unlinks", counters_.unlinks.load());
  number("creates", counters_.creates.load());
  number("answeredCreates", counters_.answered_creates.load());
  number("knownNames", nodes_.KnownNames());
  // by kind of request answered here: errors, and latencies in log2 buckets of microseconds
  static const char* const kKinds[kStatKinds] = {"read",    "write",  "fsync",    "getattr", "flush", "release",
                                                 "setattr", "lookup", "getxattr", "unlink",  "create"};
  auto kinds = Napi::Object::New(env);
  for (unsigned kind = 0; kind < kStatKinds; kind++) {
    auto entry = Napi::Object::New(env);
    auto buckets = Napi::Array::New(env, kLatencyBuckets);
    for (unsigned b = 0; b < kLatencyBuckets; b++) {
      buckets.Set(b, Napi::Number::New(env, static_cast<double>(counters_.latency[kind][b].load())));
    }
    entry.Set("errors", Napi::Number::New(env, static_cast<double>(counters_.errors[kind].load())));
    entry.Set("latency", buckets);
    kinds.Set(kKinds[kind], entry);
  }
  result.Set("ops", kinds);
  number("uringQueues", queues_.size());
  uint64_t uring_requests = 0;
  int uring_error = 0;
  for (const auto& queue : queues_) {
    uring_requests += queue->requests();
    if (uring_error == 0) uring_error = queue->kernel_error();
  }
  number("uringRequests", uring_requests);
  result.Set("uringError", Napi::Number::New(env, uring_error));
  return result;
}

// startUring(depth, payloadSize): one FUSE-over-io_uring queue per possible CPU, each with `depth`
// entries of `payloadSize` bytes (max_write), their threads and rings ready. Before answering INIT with
// FUSE_OVER_IO_URING: if they cannot be had, INIT does not agree on it (the kernel would otherwise hold
// every request until the queues register). Returns the number of queues; throws with errno.
Napi::Value FuseSession::StartUring(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (readers_.empty()) throw Napi::Error::New(env, "start first");
  if (!queues_.empty()) throw Napi::Error::New(env, "the queues run already");
  const auto depth = static_cast<unsigned>(I64(info, 0));
  const auto payload = static_cast<size_t>(I64(info, 1));
  const int cpus = get_nprocs_conf();  // the kernel makes one queue per possible CPU
  UringQueue::Hooks hooks;
  hooks.to_javascript = [this](uint8_t* request, size_t length, uint64_t unique, UringQueue::Entry* entry, bool lazy) {
    if (entry == nullptr) return Enqueue({request, length}, lazy);  // what the data path did (Tell)
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back({request, length});
      in_javascript_[unique] = entry;
    }
    Wake();
  };
  for (int cpu = 0; cpu < cpus; cpu++) {
    auto queue = std::make_unique<UringQueue>(fd_, static_cast<unsigned>(cpu), depth, payload, files_, nodes_,
                                              counters_, timeouts_, hooks);
    int error = queue->Start();
    if (error != 0) {
      queues_.clear();
      throw ErrnoError(env, "a FUSE-over-io_uring queue", -error);
    }
    queues_.push_back(std::move(queue));
  }
  return Napi::Number::New(env, cpus);
}

// The passthrough ioctls on /dev/fuse (include/uapi/linux/fuse.h: FUSE_DEV_IOC_BACKING_OPEN and _CLOSE).
struct BackingMap {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
constexpr unsigned long kBackingOpen = _IOW(229, 1, BackingMap);
constexpr unsigned long kBackingClose = _IOW(229, 2, uint32_t);

// backingOpen(fd): registers the storage's descriptor fd as a backing file for FUSE passthrough; the id
// to put in OPEN's reply (FOPEN_PASSTHROUGH), or -errno (EPERM without CAP_SYS_ADMIN).
Napi::Value FuseSession::BackingOpen(const Napi::CallbackInfo& info) {
  BackingMap map{I32(info, 0), 0, 0};
  int id = ioctl(fd_, kBackingOpen, &map);
  return Napi::Number::New(info.Env(), id < 0 ? -errno : id);
}

// backingClose(id): the kernel keeps what open files use; 0 or -errno.
Napi::Value FuseSession::BackingClose(const Napi::CallbackInfo& info) {
  uint32_t id = static_cast<uint32_t>(I32(info, 0));
  return Napi::Number::New(info.Env(), ioctl(fd_, kBackingClose, &id) < 0 ? -errno : 0);
}

// registerUring(): the queues offer their entries, once INIT is answered (the kernel refuses them before).
// A refusal (the kernel's first error is in counters().uringError) makes the kernel go on over /dev/fuse.
Napi::Value FuseSession::RegisterUring(const Napi::CallbackInfo& info) {
  for (auto& queue : queues_) queue->Register();
  return info.Env().Undefined();
}

// The reader: one ring for the two polls (/dev/fuse readable, told to stop) and the data path's IO. It
// stops reading when told to or when the connection ends, and returns once no IO is left in the ring.
void FuseSession::ReadLoop(Reader& reader) {
  // One thread submits and reaps; completions' task work runs when it waits, not by interrupting it.
  int setup = io_uring_queue_init(kRingEntries, &reader.ring, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
  if (setup == -EINVAL) setup = io_uring_queue_init(kRingEntries, &reader.ring, 0);  // an older kernel
  if (setup != 0) return PollLoop(reader);
  const size_t readers = readers_.size();
  reader.data = std::make_unique<DataPath>(
      &reader.ring, files_, nodes_, *this, counters_, timeouts_, buffer_size_,
      ReplySplice{true, splice_.minimum, splice_.drain, std::max<size_t>(1, kPipesInAll / readers)},
      std::max<size_t>(2, kSparesInAll / readers), ThreadReads{&thread_reads_, &thread_reads_limit_, true});
  native_ = true;
  io_uring* ring = &reader.ring;
  DataPath* data = reader.data.get();
  // /dev/fuse is watched exclusively: a request wakes one idle reader, not every one (which would all
  // read, and all but one find nothing). The stop eventfd wakes them all.
  auto watch = [data](int fd, uint64_t tag, unsigned events) {
    io_uring_sqe* sqe = data->Sqe();
    io_uring_prep_poll_add(sqe, fd, events);
    io_uring_sqe_set_data64(sqe, tag);
  };
  uint8_t* buffer = data->TakeBuffer();
  int error = buffer ? 0 : ENOMEM;
  bool reading = error == 0;
  if (reader.fd >= 0) {  // the wake signal of a stop reaches this thread
    sigset_t wake;
    sigemptyset(&wake);
    sigaddset(&wake, WakeSignal());
    pthread_sigmask(SIG_UNBLOCK, &wake, nullptr);
  }
  watch(stop_fd_, kStopAsked, POLLIN);
  bool polling = false;  // the poll of /dev/fuse is in the ring
  while (reading || data->inflight() > 0) {
    if (reading && !polling) {
      if (reader.fd >= 0 && data->inflight() == 0) {
        // Nothing to wait for but a request: a blocking read of the clone, which wakes this thread alone
        // and at once, as libfuse's readers. Through the ring, the poll's wake-up and its arming again cost
        // a request 4-6 us more (BENCHMARKS.md, session 42). Never with the poll still in the ring: its
        // exclusive entry in the device's wait queue takes wake-ups that only this thread's next
        // io_uring_enter acts on (a poll cancelled just before the read left every reader asleep in read(2)
        // with READs waiting), so the poll is only ever left once it has completed.
        if (io_uring_sq_ready(ring) > 0) io_uring_submit(ring);
        reading = ReadBlocking(reader, &buffer, &error);
        if (io_uring_sq_ready(ring) > 0) io_uring_submit(ring);
        if (data->inflight() == 0 && io_uring_cq_ready(ring) == 0) continue;  // answered, or JavaScript's
      }
      // IO in flight: wait for it and for requests at once
      if (reading && io_uring_cq_ready(ring) == 0) {
        watch(fd_, kFuseReadable, POLLIN | EPOLLEXCLUSIVE);
        polling = true;
      }
    }
    const int submitted = io_uring_submit_and_wait(ring, 1);
    if (submitted < 0 && submitted != -EINTR && submitted != -EBUSY) {
      error = -submitted;  // the ring itself failed: IO still in it can no longer be waited for
      break;
    }
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(ring, head, cqe) {
      seen++;
      const uint64_t tag = io_uring_cqe_get_data64(cqe);
      if (tag == kStopAsked) {
        reading = false;
      } else if (tag == kFuseReadable) {
        polling = false;
        if (reading) reading = ReadAvailable(reader, &buffer, &error);
      } else {
        data->Complete(cqe);
      }
    }
    io_uring_cq_advance(ring, seen);
  }
  if (buffer) data->GiveBuffer(buffer);
  if (data->inflight() == 0) {
    reader.data.reset();
    io_uring_queue_exit(&reader.ring);
  }  // else the ring failed with IO in it: its memory stays, rather than be freed under the kernel
  Finish(error);
}

// Reads every request /dev/fuse has now, or up to one that put IO in the ring: that IO is submitted at once
// rather than after one more read, which mostly finds nothing (the poll, armed again, says at once when
// another request is there). False once reading is over: the connection ended (ENODEV: the normal end,
// unmounted or aborted) or failed (*error set).
bool FuseSession::ReadAvailable(Reader& reader, uint8_t** buffer, int* error) {
  for (;;) {
    ssize_t n = read(fd_, *buffer, buffer_size_);
    if (n >= 0) {
      if (!Dispatch(reader, buffer, static_cast<size_t>(n), fd_)) {
        *error = ENOMEM;
        return false;
      }
      if (reader.data != nullptr && io_uring_sq_ready(&reader.ring) > 0) return true;
      continue;
    }
    int e = errno;
    if (e == EINTR || e == ENOENT) continue;  // ENOENT: the request was interrupted before we read it
    if (e == EAGAIN) {
      empty_reads_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    *error = e == ENODEV ? 0 : e;
    return false;
  }
}

// One request from the reader's clone, read blocking: the reader has nothing else to wait for. It returns
// without one when the request was interrupted before it was read (ENOENT) or the reader is to stop (EINTR:
// StopReader's signal). False once reading is over.
bool FuseSession::ReadBlocking(Reader& reader, uint8_t** buffer, int* error) {
  reader.blocking = true;
  if (stopping_) {
    reader.blocking = false;
    return false;
  }
  ssize_t n = read(reader.fd, *buffer, buffer_size_);
  const int e = errno;
  reader.blocking = false;
  if (n >= 0) {
    if (Dispatch(reader, buffer, static_cast<size_t>(n), reader.fd)) return true;
    *error = ENOMEM;
    return false;
  }
  if (e == EINTR || e == ENOENT) return !stopping_;
  *error = e == ENODEV ? 0 : e;
  return false;
}

// One request, read from `from` (where its reply goes): the data path's, or JavaScript's. A small one is copied out for
// JavaScript; a large one (a big WRITE) takes the read buffer itself, as does a WRITE the data path keeps; the reader
// then takes another buffer. False when none can be had.
bool FuseSession::Dispatch(Reader& reader, uint8_t** buffer, size_t length, int from) {
  DataPath* data = reader.data.get();
  if (data != nullptr && length >= sizeof(InHeader)) {
    DataPath::Request request;
    std::memcpy(&request.header, *buffer, sizeof request.header);
    if (request.header.len == length) {
      request.arg = *buffer + sizeof(InHeader);
      request.arg_length = length - sizeof(InHeader);
      request.buffer = *buffer;
      request.fuse_fd = from;
      bool kept = false;
      if (data->Serve(request, &kept)) {
        if (kept) *buffer = data->TakeBuffer();
        return *buffer != nullptr;
      }
    }
  }
  Request request{nullptr, length};
  if (length <= kCopyLimit) {
    request.data = static_cast<uint8_t*>(std::malloc(length > 0 ? length : 1));
    if (request.data) std::memcpy(request.data, *buffer, length);
  } else {
    request.data = *buffer;
    *buffer = data != nullptr ? data->TakeBuffer() : static_cast<uint8_t*>(std::malloc(buffer_size_));
  }
  if (request.data)
    Enqueue(request, length >= sizeof(InHeader) && IsForget(*reinterpret_cast<const InHeader*>(request.data)), from);
  return request.data != nullptr && *buffer != nullptr;
}

// A reply of the data path to a request read from /dev/fuse: one writev, which never blocks. It fails
// with ENOENT when the request was interrupted meanwhile and ENODEV once the connection is gone: either
// way nobody waits for it any more.
void FuseSession::Send(const DataPath::Request& request, int error, const void* body, size_t length) {
  OutHeader header{static_cast<uint32_t>(sizeof(OutHeader) + (error == 0 ? length : 0)), -error, request.header.unique};
  iovec iov[2] = {{&header, sizeof header}, {const_cast<void*>(body), length}};
  ssize_t written = writev(request.fuse_fd, iov, error == 0 && length > 0 ? 2 : 1);
  (void)written;
}

// The data path hands a request it holds (with its buffer) to JavaScript after all.
void FuseSession::Forward(const DataPath::Request& request) {
  Enqueue({request.buffer, request.header.len}, false, request.fuse_fd);
}

bool FuseSession::ForwardCopy(const DataPath::Request& request, const void* extra, size_t extra_length) {
  size_t length;
  uint8_t* copy = DataPath::Copy(request, extra, extra_length, &length);
  if (copy == nullptr) {
    Send(request, ENOMEM, nullptr, 0);
    return false;
  }
  Enqueue({copy, length}, false, request.fuse_fd);
  return true;
}

// The reader without io_uring: poll(2) for /dev/fuse and the stop eventfd; every request goes to JavaScript.
void FuseSession::PollLoop(Reader& reader) {
  auto* buffer = static_cast<uint8_t*>(std::malloc(buffer_size_));
  int error = buffer ? 0 : ENOMEM;
  while (error == 0 && ReadAvailable(reader, &buffer, &error)) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) error = errno;
    if (fds[1].revents) break;  // told to stop
  }
  std::free(buffer);
  Finish(error);
}

// A request for JavaScript: queued, and the event loop woken, except for one nobody waits on (`lazy`: a
// FORGET, or the data path's report of an unlink that left its node unreachable), which waits for a drain:
// the next one something else brings, at most kLazyBatch of them, at most kLazyWaitMs (QueueLazy). Each
// costs JavaScript little, a wake-up of its thread much: an unlink brings a FORGET and a report, where its
// other requests are all answered natively. The queue keeps its order, so whatever JavaScript is asked
// after them finds them learned. The report of an unlink whose node is still reachable (another link, an
// open handle) wakes it: a request of that node already in JavaScript may go by the name taken away.
void FuseSession::Enqueue(Request request, bool lazy, int from) {
  Wakeup wakeup = Wakeup::kNow;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (from >= 0 && from != fd_ && request.length >= sizeof(InHeader)) {  // answered through the clone
      const auto* header = reinterpret_cast<const InHeader*>(request.data);
      if (AwaitsReply(*header)) reply_to_[header->unique] = from;
    }
    queue_.push_back(request);
    if (lazy) wakeup = QueueLazy();
  }
  Wake(wakeup);
}

// The first lazy request since a drain wakes the event loop to start its timer (OnWake), the ones after it
// wake nothing, the kLazyBatch-th drains them (once: those after it until that drain are in it). The timer
// lives on the event loop, not in the readers: a reader with nothing to do sleeps in its read of /dev/fuse,
// which no timeout ends.
FuseSession::Wakeup FuseSession::QueueLazy() {
  ++lazy_;
  if (lazy_ == kLazyBatch) return Wakeup::kNow;
  return lazy_ == 1 ? Wakeup::kTimer : Wakeup::kNone;
}

// What the data path did (an UNLINK it made), for JavaScript: queued after the requests read before it.
void FuseSession::Tell(uint8_t* copy, size_t length, bool lazy) { Enqueue({copy, length}, lazy); }

// A reader stopped; the session's end is reported once all have, with the first error.
void FuseSession::Finish(int error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (end_error_ == 0) end_error_ = error;
    if (++readers_ended_ < readers_.size()) return;
    ended_ = true;
  }
  Wake();
}

// uv_async_send coalesces: many wake-ups before the loop runs are one drain.
void FuseSession::Wake(Wakeup wakeup) {
  if (wakeup == Wakeup::kNone) return;
  if (wakeup == Wakeup::kNow) {
    urgent_wakes_.fetch_add(1, std::memory_order_relaxed);
    urgent_.store(true);
  }
  uv_async_send(wake_);
}

// The event loop's wake-up: a drain, unless only lazy requests wait; then a drain kLazyWaitMs after the
// first of them, or sooner if something else wakes it.
void FuseSession::OnWake(uv_async_t* handle) {
  auto* session = static_cast<FuseSession*>(handle->data);
  if (session == nullptr) return;
  if (!session->urgent_.load() && !session->stopped_) {
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(session->lazy_timer_))) {
      uv_timer_start(session->lazy_timer_, &FuseSession::OnLazyTimer, kLazyWaitMs, 0);
    }
    return;
  }
  session->DrainOnLoop();
}

void FuseSession::OnLazyTimer(uv_timer_t* timer) {
  auto* session = static_cast<FuseSession*>(timer->data);
  if (session != nullptr) session->DrainOnLoop();
}

// A drain; after a stop, once the end is reported, the wake-up and the timer close.
void FuseSession::DrainOnLoop() {
  drains_.fetch_add(1, std::memory_order_relaxed);
  Drain(Env());
  if (stopped_ && end_reported_) CloseWake();
}

void FuseSession::CloseWake() {
  uv_close(reinterpret_cast<uv_handle_t*>(wake_), [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
  uv_close(reinterpret_cast<uv_handle_t*>(lazy_timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  wake_ = nullptr;
  lazy_timer_ = nullptr;
}

// On the event loop: every request queued so far goes to JavaScript in one call; then the end, once.
void FuseSession::Drain(Napi::Env env) {
  std::vector<Request> batch;
  std::vector<uint64_t> released;
  bool report_end = false;
  int end_error = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    batch.swap(queue_);
    lazy_ = 0;
    urgent_.store(false);
    released.swap(released_);
    if (ended_ && !end_reported_) {
      report_end = true;
      end_reported_ = true;
      end_error = end_error_;
    }
  }
  if (lazy_timer_ != nullptr) uv_timer_stop(lazy_timer_);  // nothing lazy waits now
  Napi::HandleScope scope(env);
  if (!batch.empty() || !released.empty()) {
    auto array = Napi::Array::New(env, batch.size());
    for (size_t i = 0; i < batch.size(); i++) {
      array.Set(i, Napi::Buffer<uint8_t>::New(env, batch[i].data, batch[i].length, FreeRequest));
    }
    auto handles = Napi::Array::New(env, released.size());
    for (size_t i = 0; i < released.size(); i++) {
      if (i % 2 == 0) cells_.erase(released[i]);  // the data path holds that handle no more
      handles.Set(i, Napi::Number::New(env, static_cast<double>(released[i])));
    }
    Call(on_requests_, {array, handles});
  }
  if (report_end) Call(on_end_, {Napi::Number::New(env, end_error)});
}

// reply(unique, error, ...buffers): 0, or -errno (-ENOENT: the request was interrupted meanwhile). A
// notification is the same write with unique 0 and the notify code (positive) in place of the error.
Napi::Value FuseSession::Reply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) return Napi::Number::New(env, -EBADF);
  OutHeader header{};
  header.unique = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  header.error = I32(info, 1);
  iovec iov[kMaxReplyParts];
  size_t parts = 1;
  size_t length = sizeof header;
  if (info.Length() - 2 + 1 > kMaxReplyParts) throw Napi::RangeError::New(env, "too many reply parts");
  if (header.error >= 0) {
    for (size_t i = 2; i < info.Length(); i++) {
      Bytes bytes = BytesOf(info[i]);
      if (bytes.length == 0) continue;
      iov[parts++] = {bytes.data, bytes.length};
      length += bytes.length;
    }
  }
  int to = fd_;
  if (header.unique != 0) {
    UringQueue::Entry* entry = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = in_javascript_.find(header.unique);
      if (it != in_javascript_.end()) {
        entry = it->second;
        in_javascript_.erase(it);
      } else if (auto clone = reply_to_.find(header.unique); clone != reply_to_.end()) {
        to = clone->second;
        reply_to_.erase(clone);
      }
    }
    if (entry != nullptr) {  // the request came through a ring entry: the reply goes back through it
      entry->queue->Reply(entry, -header.error, iov + 1, parts - 1);
      return Napi::Number::New(env, 0);
    }
  }
  header.len = static_cast<uint32_t>(length);
  iov[0] = {&header, sizeof header};
  ssize_t n = writev(to, iov, static_cast<int>(parts));
  return Napi::Number::New(env, n < 0 ? -errno : 0);
}

// unmount(target, detach): umount2; 0 or -errno.
Napi::Value FuseSession::Unmount(const Napi::CallbackInfo& info) {
  std::string target = info[0].As<Napi::String>();
  int flags = info[1].ToBoolean() ? MNT_DETACH : 0;
  return Napi::Number::New(info.Env(), umount2(target.c_str(), flags) == 0 ? 0 : -errno);
}

void FuseSession::StopReader() {
  if (readers_.empty() || !readers_.front()->thread.joinable()) return;
  stopping_ = true;
  uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof one) < 0) {
    // an eventfd write fails only on overflow, which cannot happen with one write
  }
  // never read, the eventfd stays readable: every reader sees it. A reader blocked in a read of its clone is
  // interrupted, again until it has left (a signal that came just before its read would be lost).
  for (;;) {
    bool left = true;
    for (auto& reader : readers_) {
      if (reader->done) continue;
      left = false;
      if (reader->blocking) pthread_kill(reader->thread.native_handle(), WakeSignal());
    }
    if (left) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (auto& reader : readers_) {
    if (reader->thread.joinable()) reader->thread.join();
  }
  for (auto& reader : readers_) {
    if (reader->fd >= 0) close(reader->fd);
    reader->fd = -1;
  }
  close(stop_fd_);
  stop_fd_ = -1;
}

// close(): stops the reader and closes /dev/fuse. A mount still in place then answers ENOTCONN.
Napi::Value FuseSession::Close(const Napi::CallbackInfo& info) {
  StopReader();
  for (auto& queue : queues_) queue->Stop();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (wake_ != nullptr) {  // nothing wakes it now but this: a last drain reports the end, then it closes
    stopped_ = true;
    Wake();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    in_javascript_.clear();
    reply_to_.clear();
  }
  cells_.clear();
  return info.Env().Undefined();
}

}  // namespace persistfs::fuse
