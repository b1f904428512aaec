// See data-path.h. A DataPath runs on the one thread that owns its ring.
#include "data-path.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../default-acl.h"
#include "protocol.h"

namespace persistfs::fuse {

namespace {

// A READ reply up to this size gets a buffer of its own size; a larger one a reusable full-size buffer.
constexpr size_t kSmallReply = 64 * 1024;
// A WRITE up to this size is one pwrite(2) on the serving thread; a larger one goes through the ring. On
// ext4 (the backing file systems here) io_uring cannot write to the page cache without blocking, so it
// hands every buffered write to an io-wq worker: measured on this machine, 9-11 us a 4 KiB write through
// the ring, 3 us with pwrite. A large write is mostly its copy, and the worker lets several go at once.
constexpr size_t kInlineWrite = 64 * 1024;
// A READ the page cache did not answer, up to this size, may be read by its reader's own pread (ThreadReads). A
// larger one is mostly the disk's time: cold sequential reads of 1 MiB (the kernel's readahead sends several at
// once) lost a third of their MiB/s that way, where the ring lets one reader have several in flight.
constexpr size_t kThreadReadMost = 64 * 1024;
// After this many READs of a file in a row whose data the page cache did not hold (their preadv2 RWF_NOWAIT
// failed), a READ of it goes on without the try (to its reader's pread or the ring), but for one in kProbeEvery that
// still tries the cache (a hit starts over): on a cold file every READ paid a failed syscall before its ring read.
// BENCHMARKS.md, "rr4j".
constexpr uint32_t kMissesBeforeSkip = 8;
constexpr uint32_t kProbeEvery = 16;
// Every this many bytes a file is written sequentially, the data path starts the writeback of its dirty
// pages (sync_file_range SYNC_FILE_RANGE_WRITE on the ring, answered by no one): the disk writes while the
// file is still written, and the fsync that comes has less left to do. Only behind a sequential stream:
// WRITEs that continue it, WRITEs that complete out of order (served by several threads) filling the holes
// the ones before them left. Random rewrites, which the page cache absorbs (and the kernel's writeback
// flushes in offset order, with gaps), start none: fio randwrite-4k went from 105-125K to 57-61K IOPS when
// any WRITE near the stream's end counted. Measured on the S3 mount's copies (dd of 64 MiB bs=1M
// conv=fsync, 6 rounds alternated, load 7): 107 MiB/s without, 123 every 4 MiB, 129 every 1 MiB; on the
// local mount: BENCHMARKS.md, session 38.
constexpr uint64_t kWritebackEvery = 1024 * 1024;
// How far from the stream's end a WRITE still belongs to it (ahead: a hole; behind: a late one); further, a
// stream starts there.
constexpr uint64_t kStreamSlack = 4 * kWritebackEvery;
// An UNLINK of the last link of a file of more blocks (512 bytes) than this goes to JavaScript (ServeUnlink).
constexpr uint64_t kUnlinkBlocks = 16 * 1024 * 1024 / 512;
// What the statx of a LOOKUP asks for: what JavaScript's io_uring statx asks (src/io/statx.ts STATX_MASK:
// the basic stats, the birth time, the O_DIRECT alignments).
constexpr unsigned kLookupStatxMask = STATX_BASIC_STATS | STATX_BTIME | 0x2000;
// A CREATE the data path answers wakes JavaScript when fewer slots than this are left (AnswerCreate): it gives
// new ones then (mount/kernel/create-slots.ts keeps 64 given).
constexpr size_t kSlotsLow = 32;
// The largest file size the storage addresses exactly (its File's checkExtent): past it is EFBIG.
constexpr uint64_t kLargestEnd = (uint64_t{1} << 53) - 1;
constexpr size_t kPageSize = 4096;
// cachestat(2) (Linux 6.5, include/uapi/linux/mman.h; Debian 12's headers predate it)
constexpr long kCachestat = 451;
struct CachestatRange {
  uint64_t off;
  uint64_t len;
};
struct Cachestat {
  uint64_t nr_cache;
  uint64_t nr_dirty;
  uint64_t nr_writeback;
  uint64_t nr_evicted;
  uint64_t nr_recently_evicted;
};

double SizeOf(const uint64_t* cell) {
  uint64_t bits = __atomic_load_n(cell, __ATOMIC_ACQUIRE);
  double size;
  std::memcpy(&size, &bits, sizeof size);
  return size;
}

// Raises the float64 size in `cell` to `end`, never lowering it (JavaScript's truncates set it; the
// kernel does not send a truncate and a write of one file at once, the compare-and-swap keeps it exact).
void RaiseSize(uint64_t* cell, uint64_t end) {
  const double wanted = static_cast<double>(end);
  uint64_t wanted_bits;
  std::memcpy(&wanted_bits, &wanted, sizeof wanted_bits);
  uint64_t old = __atomic_load_n(cell, __ATOMIC_ACQUIRE);
  for (;;) {
    double current;
    std::memcpy(&current, &old, sizeof current);
    if (current >= wanted) return;
    if (__atomic_compare_exchange_n(cell, &old, wanted_bits, false, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE)) return;
  }
}

// The bits a write by an unprivileged user removes (mount/kernel/operations.ts privilegeBits).
bool HasPrivileges(uint32_t mode) {
  if (!S_ISREG(mode)) return false;
  return (mode & S_ISUID) != 0 || (mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP);
}

// dev_t as the kernel's new_encode_dev lays out a 32-bit device number.
uint32_t DeviceNumber(uint32_t major, uint32_t minor) {
  return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

}  // namespace

uint64_t MonotonicNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(now.tv_nsec);
}

void DataPathCounters::Record(unsigned kind, uint64_t start_ns, int error) {
  const uint64_t us = (MonotonicNs() - start_ns) / 1000;
  const unsigned bucket = us == 0 ? 0 : std::min<unsigned>(kLatencyBuckets - 1, 64 - __builtin_clzll(us));
  latency[kind][bucket].fetch_add(1, std::memory_order_relaxed);
  if (error != 0) errors[kind].fetch_add(1, std::memory_order_relaxed);
}

namespace {
unsigned StatKindOf(uint32_t opcode) {
  switch (opcode) {
    case kRead:
      return kStatRead;
    case kWrite:
      return kStatWrite;
    case kFsync:
      return kStatFsync;
    case kGetattr:
    case kStatx:
      return kStatGetattr;
    case kFlush:
      return kStatFlush;
    case kSetattr:
      return kStatSetattr;
    case kLookup:
      return kStatLookup;
    case kGetxattr:
      return kStatGetxattr;
    case kUnlink:
      return kStatUnlink;
    case kCreate:
      return kStatCreate;
    default:
      return kStatRelease;
  }
}
}  // namespace

struct DataPath::Op {
  enum Kind { kRead, kSplice, kWrite, kCheckPrivileges, kFsync, kGetattr, kWriteback } kind;
  uint64_t start_ns = 0;  // when it arrived (persistfs stats)
  Request request;        // where it came from (its memory stays valid until answered)
  std::shared_ptr<OpenFile> file;
  uint8_t* owned = nullptr;  // a buffer to give back at the end: the kept request, or a READ's reply
  uint8_t* data = nullptr;   // the bytes to read into or write from
  size_t length = 0;         // how many
  size_t done = 0;           // how many so far (a short transfer is resubmitted for the rest)
  uint64_t offset = 0;
  unsigned fsync_flags = 0;
  int pipe = -1;        // kSplice: its pipe (pipes_), the reply header in it, then the data spliced so far
  bool ringed = false;  // it went through the ring once: what is left of it goes there too (ReadOnThread)
  struct statx stx;
};

DataPath::DataPath(io_uring* ring, FileTable& files, NodeTable& nodes, Transport& transport, DataPathCounters& counters,
                   Timeouts timeouts, size_t buffer_size, ReplySplice splice, size_t spares, ThreadReads thread_reads)
    : ring_(ring),
      files_(files),
      nodes_(nodes),
      transport_(transport),
      counters_(counters),
      timeouts_(timeouts),
      buffer_size_(buffer_size),
      splice_(splice),
      spares_(spares),
      thread_reads_(thread_reads) {
  if (!splice_.on || splice_.minimum == 0) return;
  // a pipe is busy from its READ's start to its reply; each holds the largest reply: its size is only the room
  // for its buffers' descriptors (40 bytes a page), its pages are the page cache's own while a reply passes
  pipes_.resize(splice_.pipes);
  for (Pipe& pipe : pipes_) OpenPipe(&pipe);
}

DataPath::~DataPath() {
  for (uint8_t* buffer : spare_) std::free(buffer);
  for (Pipe& pipe : pipes_) ClosePipe(&pipe);
}

// Pipes that hold the largest READ reply (the read buffer's size: max_read and room), its header in a pipe
// buffer of its own and one more page for data that does not start on a page boundary. Past
// /proc/sys/fs/pipe-max-size (1 MiB here) F_SETPIPE_SZ needs CAP_SYS_RESOURCE; without it a pipe of that
// size takes the READs that fit in it, and larger ones are copied.
// A pipe that cannot be had stays busy (never chosen).
void DataPath::OpenPipe(Pipe* pipe) {
  *pipe = Pipe{};
  const size_t wanted = (buffer_size_ + kPageSize - 1) / kPageSize + 2;
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return;
  int size = fcntl(fds[0], F_SETPIPE_SZ, static_cast<int>(wanted * kPageSize));
  if (size < 0) size = fcntl(fds[0], F_SETPIPE_SZ, 1024 * 1024);
  if (size < 0) size = fcntl(fds[0], F_GETPIPE_SZ);
  const size_t pages = size > 0 ? static_cast<size_t>(size) / kPageSize : 0;
  if (pages < 2) {
    close(fds[0]);
    close(fds[1]);
    return;
  }
  pipe_pages_ = pipe_pages_ == 0 ? pages : std::min(pipe_pages_, pages);
  *pipe = Pipe{fds[0], fds[1], false};
}

void DataPath::ClosePipe(Pipe* pipe) {
  if (pipe->read >= 0) close(pipe->read);
  if (pipe->write >= 0) close(pipe->write);
  *pipe = Pipe{};
}

uint8_t* DataPath::TakeBuffer() {
  if (spare_.empty()) return static_cast<uint8_t*>(std::malloc(buffer_size_));
  uint8_t* buffer = spare_.back();
  spare_.pop_back();
  return buffer;
}

void DataPath::GiveBuffer(uint8_t* buffer) {
  if (spare_.size() < spares_) {
    spare_.push_back(buffer);
  } else {
    std::free(buffer);
  }
}

io_uring_sqe* DataPath::Sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_);
  while (sqe == nullptr) {
    io_uring_submit(ring_);
    sqe = io_uring_get_sqe(ring_);
  }
  return sqe;
}

bool DataPath::Serve(const Request& request, bool* kept) {
  *kept = false;
  const InHeader& header = request.header;
  if (header.total_extlen != 0) return false;  // JavaScript answers the odd ones
  if (header.opcode == kLookup) return ServeLookup(request);
  if (header.opcode == kGetxattr) return ServeGetxattr(request);
  if (header.opcode == kUnlink) return ServeUnlink(request);
  if (header.opcode == kCreate) return ServeCreate(request);
  if (request.arg_length < sizeof(FhIn)) return false;  // JavaScript answers the odd ones

  uint64_t fh;
  switch (header.opcode) {
    case kStatx: {
      // by node, where GETATTR is answered here; with a handle (which this kernel never sends for STATX),
      // JavaScript
      if (!timeouts_.statx) return false;
      StatxIn in;
      if (request.arg_length < sizeof in) return false;
      std::memcpy(&in, request.arg, sizeof in);
      return (in.getattr_flags & kGetattrFh) == 0 && ServeByNode(request);
    }
    case kGetattr: {
      GetattrIn in;
      std::memcpy(&in, request.arg, sizeof in);
      if ((in.getattr_flags & kGetattrFh) == 0) return ServeByNode(request);
      fh = in.fh;
      break;
    }
    case kSetattr:
      return ServeByNode(request);
    case kRead:
    case kWrite:
    case kRelease:
    case kFsync:
    case kFlush:
      std::memcpy(&fh, request.arg, sizeof fh);
      break;
    default:
      return false;
  }
  std::shared_ptr<OpenFile> file = files_.Use(fh, header.nodeid);
  if (!file) return false;
  const uint64_t start_ns = MonotonicNs();

  auto decline = [&] {  // for JavaScript after all (it answers a malformed request)
    files_.Done(*file);
    return false;
  };
  auto answer = [&](int error, const void* body, size_t length) {
    transport_.Send(request, error, body, length);
    counters_.served.fetch_add(1, std::memory_order_relaxed);
    counters_.Record(StatKindOf(header.opcode), start_ns, error);
    files_.Done(*file);
    return true;
  };
  auto op = std::make_unique<Op>();
  op->request = request;
  op->file = file;
  op->start_ns = start_ns;
  switch (header.opcode) {
    case kFlush:  // nothing is buffered here: the data went down at each WRITE
      if (file->flush_by_storage) return decline();
      return answer(0, nullptr, 0);

    case kRelease:
      nodes_.Hold(header.nodeid, -1);  // the handle's hold, before the reply (node-table.h, "Unlinks")
      transport_.Send(request, 0, nullptr, 0);
      counters_.served.fetch_add(1, std::memory_order_relaxed);
      counters_.Record(kStatRelease, start_ns, 0);
      files_.Release(*file);  // JavaScript hears of it once no operation uses the file
      return true;

    case kFsync: {
      if (file->sync_by_storage) return decline();
      FhIn in;
      std::memcpy(&in, request.arg, sizeof in);
      op->kind = Op::kFsync;
      op->fsync_flags = (in.flags & kFsyncFdatasync) ? IORING_FSYNC_DATASYNC : 0;
      break;
    }

    case kGetattr:
      // a file still being filled: its descriptor's size is how far it is written, not the file's; a file
      // whose attributes the storage keeps: its descriptor's mode, owner and inode are not the file's
      if (file->ready != nullptr || file->attributes_by_storage) return decline();
      op->kind = Op::kGetattr;
      break;

    case kRead: {
      ReadIn in;
      if (request.arg_length < sizeof in) return decline();
      std::memcpy(&in, request.arg, sizeof in);
      // At or past the end the storage knows there is nothing to read (the storage's own rule).
      if (in.size == 0 || static_cast<double>(in.offset) >= SizeOf(file->size)) return answer(0, nullptr, 0);
      // a file still being filled: only what is there already (JavaScript fetches the rest)
      const double end = std::min(static_cast<double>(in.offset) + in.size, SizeOf(file->size));
      if (file->ready != nullptr && end > SizeOf(file->ready)) return decline();
      op->offset = in.offset;
      op->length = static_cast<size_t>(end - static_cast<double>(in.offset));  // up to the size the storage knows
      if (request.reply_room == nullptr && StartSplice(op.get())) {
        op->kind = Op::kSplice;
        break;
      }
      op->kind = Op::kRead;
      if (request.reply_room != nullptr && request.reply_room_length >= in.size) {
        op->data = request.reply_room;
      } else {
        const bool large = in.size > kSmallReply;
        if (large && in.size > buffer_size_) return decline();
        op->owned = large ? TakeBuffer() : static_cast<uint8_t*>(std::malloc(in.size));
        if (op->owned == nullptr) return answer(ENOMEM, nullptr, 0);
        op->data = op->owned;
      }
      op->length = in.size;
      op->offset = in.offset;
      break;
    }

    case kWrite: {
      WriteIn in;
      if (request.arg_length < sizeof in) return decline();
      std::memcpy(&in, request.arg, sizeof in);
      // /dev/fuse: the data follows the fixed part in one buffer; a ring entry has it in its payload
      const uint8_t* data = request.data != nullptr ? request.data : request.arg + sizeof in;
      const size_t length = request.data != nullptr ? request.data_length : request.arg_length - sizeof in;
      if (length != in.size) return decline();
      if (in.offset > kLargestEnd || in.size > kLargestEnd - in.offset) return answer(EFBIG, nullptr, 0);
      if (in.size == 0) {
        WriteOut out{0, 0};
        return answer(0, &out, sizeof out);
      }
      // whether the file has privilege bits to remove: its descriptor's mode tells, unless the storage keeps
      // the file's (then the mode it gave, or JavaScript's judgement)
      const bool kill = (in.write_flags & kWriteKillSuidgid) != 0;
      if (kill && file->attributes_by_storage &&
          (file->mode == nullptr || HasPrivileges(__atomic_load_n(file->mode, __ATOMIC_ACQUIRE))))
        return decline();
      op->kind = kill && !file->attributes_by_storage ? Op::kCheckPrivileges : Op::kWrite;
      op->data = const_cast<uint8_t*>(data);
      op->length = in.size;
      op->offset = in.offset;
      if (request.buffer != nullptr) {
        op->owned = request.buffer;
        *kept = true;
      }
      break;
    }

    default:
      return decline();
  }
  inflight_++;
  Submit(op.release());
  return true;
}

void DataPath::Submit(Op* op) {
  const int fd = op->file->fd;
  if (op->kind == Op::kWrite && op->length - op->done <= kInlineWrite) {
    ssize_t n = pwrite(fd, op->data + op->done, op->length - op->done, static_cast<off_t>(op->offset + op->done));
    return Completed(op, n < 0 ? -errno : static_cast<int>(n));
  }
  if (op->kind == Op::kSplice) {  // the page cache holds the data (Resident): page references into the pipe
    loff_t at = static_cast<loff_t>(op->offset + op->done);
    ssize_t n = splice(fd, &at, pipes_[op->pipe].write, nullptr, op->length - op->done, SPLICE_F_NONBLOCK);
    return Completed(op, n < 0 ? -errno : static_cast<int>(n));
  }
  if (op->kind == Op::kRead && TryCache(*op->file)) {
    // What the page cache holds is read here, one preadv2 with no trip through the ring (the reply goes
    // out at once). RWF_NOWAIT fails with EAGAIN instead of waiting for the disk, and starts no IO: the
    // ring's read then reads it.
    iovec iov{op->data + op->done, op->length - op->done};
    ssize_t n = preadv2(fd, &iov, 1, static_cast<off_t>(op->offset + op->done), RWF_NOWAIT);
    if (n > 0) {
      op->file->cache_misses.store(0, std::memory_order_relaxed);
      counters_.cached_reads.fetch_add(1, std::memory_order_relaxed);
    } else {
      op->file->cache_misses.fetch_add(1, std::memory_order_relaxed);
    }
    if (n >= 0) return Completed(op, static_cast<int>(n));
    if (errno != EAGAIN && errno != EOPNOTSUPP && errno != EINTR) return Completed(op, -errno);
  }
  if (op->kind == Op::kRead && ReadOnThread(op)) return;
  if (op->kind == Op::kWrite && WriteOnThread(op)) return;
  io_uring_sqe* sqe = Sqe();
  switch (op->kind) {
    case Op::kRead:
      io_uring_prep_read(sqe, fd, op->data + op->done, static_cast<unsigned>(op->length - op->done),
                         op->offset + op->done);
      break;
    case Op::kSplice:  // done above
      break;
    case Op::kWrite:
      io_uring_prep_write(sqe, fd, op->data + op->done, static_cast<unsigned>(op->length - op->done),
                          op->offset + op->done);
      break;
    case Op::kCheckPrivileges:
    case Op::kGetattr:
      io_uring_prep_statx(sqe, fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &op->stx);
      break;
    case Op::kFsync:
      io_uring_prep_fsync(sqe, fd, op->fsync_flags);
      break;
    case Op::kWriteback:
      io_uring_prep_sync_file_range(sqe, fd, 0, 0, SYNC_FILE_RANGE_WRITE);
      break;
  }
  op->ringed = true;
  io_uring_sqe_set_data(sqe, op);
}

bool DataPath::ReadOnThread(Op* op) {
  std::atomic<uint64_t>* busy = thread_reads_.busy;
  // Not for the rest of a READ the ring read in part, or again after EAGAIN: that comes while the reader reaps its
  // completions, with its poll of /dev/fuse armed, whose request would wait out this read.
  if (busy == nullptr || op->ringed || !Alone() || op->length - op->done > kThreadReadMost) return false;
  const uint64_t others = busy->fetch_add(1, std::memory_order_relaxed);
  if (others >= thread_reads_.limit->load(std::memory_order_relaxed)) {
    busy->fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  uint64_t most = counters_.most_thread_reads.load(std::memory_order_relaxed);
  while (others + 1 > most && !counters_.most_thread_reads.compare_exchange_weak(most, others + 1)) {
  }
  counters_.thread_reads.fetch_add(1, std::memory_order_relaxed);
  const ssize_t n =
      pread(op->file->fd, op->data + op->done, op->length - op->done, static_cast<off_t>(op->offset + op->done));
  const int result = n < 0 ? -errno : static_cast<int>(n);
  busy->fetch_sub(1, std::memory_order_relaxed);
  Completed(op, result);
  return true;
}

bool DataPath::WriteOnThread(Op* op) {
  // not for the rest of a WRITE the ring wrote in part: that comes while the reader reaps its completions
  if (!thread_reads_.writes || op->ringed || !Alone()) return false;
  counters_.thread_writes.fetch_add(1, std::memory_order_relaxed);
  std::unique_lock<std::mutex> hold(op->file->write_mutex, std::try_to_lock);
  if (!hold.owns_lock()) {
    counters_.write_waits.fetch_add(1, std::memory_order_relaxed);
    hold.lock();
  }
  const ssize_t n =
      pwrite(op->file->fd, op->data + op->done, op->length - op->done, static_cast<off_t>(op->offset + op->done));
  const int result = n < 0 ? -errno : static_cast<int>(n);
  hold.unlock();
  Completed(op, result);
  return true;
}

bool DataPath::TryCache(OpenFile& file) {
  if (file.cache_misses.load(std::memory_order_relaxed) < kMissesBeforeSkip ||
      (file.cache_skips.fetch_add(1, std::memory_order_relaxed) + 1) % kProbeEvery == 0) {
    return true;
  }
  counters_.cache_tries_skipped.fetch_add(1, std::memory_order_relaxed);
  return false;
}

// A READ of at least splice_.minimum bytes whose reply fits a pipe, whose data the page cache holds, and a
// free pipe: its reply header goes in (op->length already capped at the file's size), the data follows.
bool DataPath::StartSplice(Op* op) {
  if (pipe_pages_ == 0 || op->length < splice_.minimum) return false;
  const size_t pages = (op->offset % kPageSize + op->length + kPageSize - 1) / kPageSize + 1;
  if (pages > pipe_pages_) return false;
  if (!Resident(op->file->fd, op->offset, op->length)) {
    counters_.splice_uncached.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  auto free = std::find_if(pipes_.begin(), pipes_.end(), [](const Pipe& pipe) { return !pipe.busy; });
  if (free == pipes_.end()) {
    counters_.splice_pipes_busy.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  OutHeader header{static_cast<uint32_t>(sizeof(OutHeader) + op->length), 0, op->request.header.unique};
  // into an empty pipe, a write of 16 bytes is whole or fails (PIPE_BUF)
  if (write(free->write, &header, sizeof header) != static_cast<ssize_t>(sizeof header)) return false;
  free->busy = true;
  op->pipe = static_cast<int>(free - pipes_.begin());
  return true;
}

// The pipe holds the header and op->length bytes: one splice to /dev/fuse, where the kernel copies them into
// the request's pages. It fails when the request is no longer waited for (ENOENT: interrupted; ENODEV: the
// connection is gone), having taken the bytes all the same; anything left in the pipe is answered by copy.
void DataPath::SendSpliced(Op* op) {
  Pipe& pipe = pipes_[op->pipe];
  const size_t total = sizeof(OutHeader) + op->length;
  ssize_t n = splice(pipe.read, nullptr, op->request.fuse_fd, nullptr, total, SPLICE_F_NONBLOCK);
  int left = 0;
  if (n != static_cast<ssize_t>(total) && (ioctl(pipe.read, FIONREAD, &left) != 0 || left > 0)) {
    return SpliceFallback(op, 0);
  }
  pipe.busy = false;
  op->pipe = -1;
  counters_.spliced_reads.fetch_add(1, std::memory_order_relaxed);
  counters_.bytes_read.fetch_add(op->done, std::memory_order_relaxed);
  if (op->file->served != nullptr) RaiseSize(op->file->served, op->offset + op->done);
  counters_.served.fetch_add(1, std::memory_order_relaxed);
  counters_.Record(kStatRead, op->start_ns, 0);
  Retire(op);
}

// What the pipe holds (the header, then op->done bytes of data) is read back, and the reply goes by copy:
// those bytes, or `error` when it is set. A pipe that cannot be emptied is closed and replaced: a pipe is
// never used again with bytes in it.
void DataPath::SpliceFallback(Op* op, int error) {
  counters_.splice_fallbacks.fetch_add(1, std::memory_order_relaxed);
  Pipe& pipe = pipes_[op->pipe];
  op->pipe = -1;
  op->kind = Op::kRead;
  op->owned = TakeBuffer();   // buffer_size_ bytes: room for the largest reply
  op->length = buffer_size_;  // so that Retire gives it back
  op->data = op->owned;
  uint8_t* at = op->owned;
  size_t room = op->owned != nullptr ? buffer_size_ : 0;
  size_t got = 0;
  for (;;) {
    uint8_t scrap[4096];
    uint8_t* into = room > 0 ? at : scrap;
    ssize_t n = read(pipe.read, into, room > 0 ? room : sizeof scrap);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
    if (room > 0) {
      at += n;
      room -= static_cast<size_t>(n);
    }
  }
  int left = 0;
  if (ioctl(pipe.read, FIONREAD, &left) == 0 && left == 0) {
    pipe.busy = false;
  } else {
    ClosePipe(&pipe);
    OpenPipe(&pipe);
  }
  if (error == 0 && op->owned == nullptr) error = ENOMEM;
  if (error == 0 && got < sizeof(OutHeader) + op->done) error = EIO;  // cannot be: the pipe held them
  if (error == 0) {
    // the data after the header: shift it to the buffer's start
    std::memmove(op->owned, op->owned + sizeof(OutHeader), op->done);
  }
  Finish(op, error);
}

// Whether the page cache holds every page of the range, read: cachestat(2) counts the pages it has (a
// splice of a range with a page missing would read the disk on this thread), and a preadv2 RWF_NOWAIT of
// the range's last byte says that page is read already (a page still being read by the read-ahead is
// counted, and a splice would wait for it). The read-ahead reads a range in order, so the pages before the
// last are read by then but for an odd IO completed out of order: then the splice waits for that IO, which
// is under way. Two syscalls; no residency check at all (kernels before 6.5) means no splice.
bool DataPath::Resident(int fd, uint64_t offset, size_t length) {
  if (!cachestat_works_) return false;
  const uint64_t first = offset / kPageSize;
  const uint64_t last = (offset + length - 1) / kPageSize;
  CachestatRange range{first * kPageSize, (last - first + 1) * kPageSize};
  Cachestat stat{};
  if (syscall(kCachestat, fd, &range, &stat, 0) != 0) {
    if (errno == ENOSYS) cachestat_works_ = false;
    return false;
  }
  if (stat.nr_cache < last - first + 1) return false;
  uint8_t byte;
  iovec iov{&byte, 1};
  return preadv2(fd, &iov, 1, static_cast<off_t>(offset + length - 1), RWF_NOWAIT) == 1;
}

void DataPath::Complete(const io_uring_cqe* cqe) { Completed(static_cast<Op*>(io_uring_cqe_get_data(cqe)), cqe->res); }

void DataPath::Completed(Op* op, int result) {
  if (op->kind == Op::kSplice) {
    if (result == -EINTR) return Submit(op);
    if (result > 0) {
      op->done += static_cast<size_t>(result);
      if (op->done < op->length) return Submit(op);  // the rest (a result of 0 then says the file ended)
      return splice_.drain ? SpliceFallback(op, 0) : SendSpliced(op);
    }
    // the file ended before the length it had when the READ came (truncated meanwhile), or the splice failed
    // (EAGAIN: the pipe was full, which its size rules out)
    return SpliceFallback(op, op->done == 0 && result < 0 ? -result : 0);
  }
  if (result == -EINTR || result == -EAGAIN) return Submit(op);  // try again
  switch (op->kind) {
    case Op::kRead:
    case Op::kSplice:  // answered above
    case Op::kWrite: {
      if (result < 0) return Finish(op, op->done > 0 ? 0 : -result);  // a short transfer, or the error
      if (result == 0) return Finish(op, op->done > 0 || op->kind == Op::kRead ? 0 : EIO);
      op->done += static_cast<size_t>(result);
      const bool at_end = op->kind == Op::kRead && static_cast<double>(op->offset + op->done) >= SizeOf(op->file->size);
      if (op->done < op->length && !at_end) return Submit(op);
      return Finish(op, 0);
    }
    case Op::kCheckPrivileges:
      if (result < 0) return Finish(op, -result);
      if (HasPrivileges(op->stx.stx_mode)) {
        // JavaScript removes them (and tells the kernel the mode changed), then writes.
        transport_.Forward(op->request);
        counters_.forwarded.fetch_add(1, std::memory_order_relaxed);
        op->owned = nullptr;  // the request's buffer went along
        return Retire(op);
      }
      op->kind = Op::kWrite;
      return Submit(op);
    case Op::kFsync:
    case Op::kGetattr:
      return Finish(op, result < 0 ? -result : 0);
    case Op::kWriteback:  // nobody waits for it: a failure shows at the fsync
      return Retire(op);
  }
}

void DataPath::Finish(Op* op, int error) {
  // a write that failed may have changed bytes too; counted before the reply, which the FLUSH follows
  if (op->kind == Op::kWrite && op->file->changes != nullptr)
    __atomic_fetch_add(op->file->changes, 1, __ATOMIC_RELEASE);
  if (error != 0) {
    transport_.Send(op->request, error, nullptr, 0);
  } else if (op->kind == Op::kRead) {
    transport_.Send(op->request, 0, op->data, op->done);
    counters_.bytes_read.fetch_add(op->done, std::memory_order_relaxed);
    if (op->file->served != nullptr) RaiseSize(op->file->served, op->offset + op->done);
  } else if (op->kind == Op::kWrite) {
    RaiseSize(op->file->size, op->offset + op->done);
    WriteOut out{static_cast<uint32_t>(op->done), 0};
    transport_.Send(op->request, 0, &out, sizeof out);
    counters_.bytes_written.fetch_add(op->done, std::memory_order_relaxed);
    counters_.writes.fetch_add(1, std::memory_order_relaxed);
    uint64_t largest = counters_.largest_write.load(std::memory_order_relaxed);
    while (op->done > largest &&
           !counters_.largest_write.compare_exchange_weak(largest, op->done, std::memory_order_relaxed)) {
    }
  } else if (op->kind == Op::kGetattr) {
    SendAttributes(op->request, op->stx);
  } else {
    transport_.Send(op->request, 0, nullptr, 0);
  }
  counters_.served.fetch_add(1, std::memory_order_relaxed);
  counters_.Record(StatKindOf(op->request.header.opcode), op->start_ns, error);
  if (error == 0 && op->kind == Op::kWrite) StartWriteback(op->file, op->offset, op->done);
  Retire(op);
}

void DataPath::StartWriteback(const std::shared_ptr<OpenFile>& file, uint64_t offset, size_t written) {
  {
    std::lock_guard<std::mutex> lock(file->mutex);
    const uint64_t end = offset + written;
    uint64_t& stream_end = file->stream_end;
    if (!file->streaming || offset > stream_end + kStreamSlack || offset + kStreamSlack < stream_end) {
      // the first WRITE of this open, or far from the stream: one may start here
      file->streaming = true;
      stream_end = end;
      file->holes = 0;
      file->unflushed = written;
    } else if (offset >= stream_end) {
      // its next bytes, or a little past them: the skipped ones are a hole, until late WRITEs fill it
      file->holes += offset - stream_end;
      file->unflushed += written;
      stream_end = end;
    } else {
      // behind its end: a late WRITE filling a hole (as far as holes are open), or a rewrite
      const uint64_t fills = std::min<uint64_t>(std::min<uint64_t>(end, stream_end) - offset, file->holes);
      const uint64_t past = end > stream_end ? end - stream_end : 0;
      file->holes -= fills;
      file->unflushed += fills + past;
      stream_end += past;
    }
    // random WRITEs near each other (the writeback cache flushes the pages of random rewrites in offset
    // order) leave holes that nobody fills: no writeback for them
    if (file->unflushed < kWritebackEvery || file->holes * 8 > file->unflushed) return;
    file->unflushed = 0;
    file->holes = 0;
  }
  counters_.writebacks.fetch_add(1, std::memory_order_relaxed);
  auto op = std::make_unique<Op>();
  op->kind = Op::kWriteback;
  op->file = file;
  files_.Hold(*file);
  inflight_++;
  writebacks_inflight_++;
  Submit(op.release());
}

void AttrOf(Attr* a, const struct statx& s) {
  a->ino = s.stx_ino;
  a->size = s.stx_size;
  a->blocks = s.stx_blocks;
  a->atime = static_cast<uint64_t>(s.stx_atime.tv_sec);
  a->mtime = static_cast<uint64_t>(s.stx_mtime.tv_sec);
  a->ctime = static_cast<uint64_t>(s.stx_ctime.tv_sec);
  a->atimensec = s.stx_atime.tv_nsec;
  a->mtimensec = s.stx_mtime.tv_nsec;
  a->ctimensec = s.stx_ctime.tv_nsec;
  a->mode = s.stx_mode;
  a->nlink = s.stx_nlink;
  a->uid = s.stx_uid;
  a->gid = s.stx_gid;
  a->rdev = DeviceNumber(s.stx_rdev_major, s.stx_rdev_minor);
  a->blksize = s.stx_blksize;
}

void StatxOf(Statx* x, const struct statx& s) {
  // every basic stat (the kernel caches them only then), and the birth time where the file system keeps one
  x->mask = STATX_BASIC_STATS | (s.stx_mask & STATX_BTIME);
  x->blksize = s.stx_blksize;
  x->nlink = s.stx_nlink;
  x->uid = s.stx_uid;
  x->gid = s.stx_gid;
  x->mode = s.stx_mode;
  x->ino = s.stx_ino;
  x->size = s.stx_size;
  x->blocks = s.stx_blocks;
  auto time = [](SxTime* to, const struct statx_timestamp& from) {
    to->tv_sec = from.tv_sec;
    to->tv_nsec = from.tv_nsec;
  };
  time(&x->atime, s.stx_atime);
  if (s.stx_mask & STATX_BTIME) time(&x->btime, s.stx_btime);
  time(&x->ctime, s.stx_ctime);
  time(&x->mtime, s.stx_mtime);
  x->rdev_major = s.stx_rdev_major;
  x->rdev_minor = s.stx_rdev_minor;
}

EntryOut EntryOf(uint64_t nodeid, const struct statx& s, const DataPath::Timeouts& timeouts) {
  EntryOut out{};
  out.nodeid = nodeid;
  out.entry_valid = timeouts.entry_seconds;
  out.entry_valid_nsec = timeouts.entry_nanoseconds;
  out.attr_valid = timeouts.attr_seconds;
  out.attr_valid_nsec = timeouts.attr_nanoseconds;
  AttrOf(&out.attr, s);
  return out;
}

void DataPath::SendAttributes(const Request& request, const struct statx& s) {
  if (request.header.opcode == kStatx) {
    StatxOut out{};
    out.attr_valid = timeouts_.attr_seconds;
    out.attr_valid_nsec = timeouts_.attr_nanoseconds;
    StatxOf(&out.stat, s);
    transport_.Send(request, 0, &out, sizeof out);
    return;
  }
  AttrOut out{};
  out.attr_valid = timeouts_.attr_seconds;
  out.attr_valid_nsec = timeouts_.attr_nanoseconds;
  AttrOf(&out.attr, s);
  transport_.Send(request, 0, &out, sizeof out);
}

// A removed node's GETATTR, STATX and SETATTR are ESTALE, then ENOENT (node-table.h, "Removed nodes"). A bucket's
// directory's GETATTR is the reply JavaScript gave, while it lasts (node-table.h, "Directories without a
// descriptor"). An attached directory's GETATTR (and STATX) is a statx of its descriptor made here and now: it reads no
// disk (the open file pins the inode in memory), and through the ring io_uring would hand it to an io-wq worker (it
// always does for statx), two thread wake-ups for a call of a few microseconds. Anything unexpected (a failure, another
// inode) is left to JavaScript, which knows what the node is now.
bool DataPath::ServeByNode(const Request& request) {
  const uint64_t start_ns = MonotonicNs();
  const unsigned kind = StatKindOf(request.header.opcode);
  if (const int removed = nodes_.RemovedError(request.header.nodeid, start_ns); removed != 0) {
    transport_.Send(request, removed, nullptr, 0);
    counters_.served.fetch_add(1, std::memory_order_relaxed);
    counters_.Record(kind, start_ns, removed);
    return true;
  }
  if (request.header.opcode != kGetattr && request.header.opcode != kStatx) return false;
  if (AttrOut given; request.header.opcode == kGetattr && nodes_.Attributes(request.header.nodeid, start_ns, &given)) {
    transport_.Send(request, 0, &given, sizeof given);
    counters_.served.fetch_add(1, std::memory_order_relaxed);
    counters_.given_attributes.fetch_add(1, std::memory_order_relaxed);
    counters_.Record(kind, start_ns, 0);
    return true;
  }
  std::shared_ptr<AttachedDirectory> directory = nodes_.Directory(request.header.nodeid);
  if (!directory) return false;
  struct statx stx;
  if (statx(directory->fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &stx) != 0)
    return false;
  if (directory->file.ino != 0 && !directory->file.Is(FileOf(stx))) return false;
  SendAttributes(request, stx);
  counters_.served.fetch_add(1, std::memory_order_relaxed);
  counters_.Record(kind, start_ns, 0);
  return true;
}

// A LOOKUP in an attached directory is one statx of the name relative to the directory's descriptor, made
// here (through the ring io_uring would hand it to an io-wq worker: two thread wake-ups). A name it does
// not have is answered here, absent for the entry timeout: the first request of every create. A name that is
// there and that JavaScript gave a node id, still the file it was then (FileId), is answered here with that node (its
// lookup counted: node-table.h, "Known names"); another name that is there goes to JavaScript, which makes
// nodes, with the statx after the request and the count of names taken away before it was made
// (mount/kernel/request.ts). Anything else (an error other than
// ENOENT, a name the directory leaves to JavaScript) goes to JavaScript as it came. The kernel holds the
// directory locked against creates while it looks up, so the answer cannot race with a create through the mount.
namespace {
// The NUL-terminated name that follows a request's fixed part of `fixed` bytes (LOOKUP and UNLINK: none;
// GETXATTR: fuse_getxattr_in; CREATE: fuse_create_in): after that part on /dev/fuse, the payload over
// io_uring. Null when malformed (JavaScript answers).
const char* NameAfter(const DataPath::Request& request, size_t fixed) {
  if (request.arg_length < fixed) return nullptr;
  const bool in_arg = request.arg_length > fixed;
  const char* name = reinterpret_cast<const char*>(in_arg ? request.arg + fixed : request.data);
  const size_t room = in_arg ? request.arg_length - fixed : request.data_length;
  if (name == nullptr || room == 0 || std::memchr(name, 0, room) == nullptr || name[0] == 0) return nullptr;
  return name;
}
}  // namespace

bool DataPath::ServeLookup(const Request& request) {
  const uint64_t start_ns = MonotonicNs();
  const char* name = NameAfter(request, 0);
  if (name == nullptr) return false;
  std::shared_ptr<AttachedDirectory> directory = nodes_.Directory(request.header.nodeid);
  if (!directory || directory->LeavesToJavaScript(name)) return false;
  // forwarded: the statx, then the count of names taken away before it was made (node-table.h, Removals)
  struct {
    struct statx stx;
    uint64_t removals;
  } seen;
  static_assert(sizeof seen == sizeof(struct statx) + sizeof(uint64_t), "a statx, then a u64");
  seen.removals = nodes_.Removals();
  struct statx& stx = seen.stx;
  if (statx(directory->fd, name, AT_SYMLINK_NOFOLLOW, kLookupStatxMask, &stx) == 0) {
    const uint64_t nodeid = nodes_.Known(request.header.nodeid, name, FileOf(stx));
    if (nodeid == 0) {
      transport_.ForwardCopy(request, &seen, sizeof seen);
      return true;
    }
    const EntryOut out = EntryOf(nodeid, stx, timeouts_);
    transport_.Send(request, 0, &out, sizeof out);
    counters_.served.fetch_add(1, std::memory_order_relaxed);
    counters_.known_lookups.fetch_add(1, std::memory_order_relaxed);
    counters_.Record(kStatLookup, start_ns, 0);
    return true;
  }
  if (errno != ENOENT) return false;
  // node 0 with a timeout: the kernel keeps the name's absence as long as a name's entry (a negative
  // dentry), so the open(O_CREAT) that follows a failed stat, or a second stat, asks nothing
  EntryOut out{};
  out.entry_valid = timeouts_.entry_seconds;
  out.entry_valid_nsec = timeouts_.entry_nanoseconds;
  transport_.Send(request, 0, &out, sizeof out);
  counters_.served.fetch_add(1, std::memory_order_relaxed);
  counters_.Record(kStatLookup, start_ns, ENOENT);
  return true;
}

// An UNLINK in an attached directory of a name JavaScript gave a node, still that node's file and not a
// directory (node-table.h, "Unlinks"): the file held open (O_PATH), unlinkat on the directory's descriptor, the
// table told, JavaScript told (queued before the reply), the reply, then the file let go. Anything else, and a
// failed unlinkat (which changed nothing), goes to JavaScript, which answers with the storage's error.
bool DataPath::ServeUnlink(const Request& request) {
  const uint64_t start_ns = MonotonicNs();
  const char* name = NameAfter(request, 0);
  if (!timeouts_.changes_names || name == nullptr || std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0)
    return false;
  const uint64_t parent = request.header.nodeid;
  std::shared_ptr<AttachedDirectory> directory = nodes_.Directory(parent);
  if (!directory || directory->LeavesToJavaScript(name)) return false;
  uint64_t nodeid = 0;
  FileId known{};
  if (!nodes_.NameFile(parent, name, &nodeid, &known)) return false;
  // The file is held open (O_PATH) across the unlinkat and let go after the reply: when the name was its last
  // link, its blocks are freed as the descriptor closes, after the caller has its answer, rather than inside the
  // unlinkat while the caller waits (a server keeping a descriptor per node, as libfuse's passthrough_hp does,
  // frees them at the FORGET).
  const int held = openat(directory->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (held < 0) return false;
  struct statx stx;
  if (statx(held, "", AT_EMPTY_PATH, STATX_TYPE | STATX_INO | STATX_NLINK | STATX_BTIME | STATX_BLOCKS, &stx) != 0 ||
      S_ISDIR(stx.stx_mode) || !known.Is(FileOf(stx))) {
    close(held);
    return false;
  }
  // the last link of a large file: its blocks are freed as the descriptor closes, which would hold this thread (and
  // every request behind it) for as long; JavaScript's unlinkat runs on io_uring's worker
  const bool last_link = stx.stx_nlink <= 1;
  if (last_link && stx.stx_blocks > kUnlinkBlocks) {
    close(held);
    return false;
  }
  // what JavaScript is told: the request, then a marker, the node and its file (mount/kernel/request.ts)
  const FileId file = FileOf(stx);
  const uint64_t told[4] = {kUnlinkedHere, nodeid, file.ino, file.born};
  size_t length;
  uint8_t* copy = Copy(request, told, sizeof told, &length);
  if (copy == nullptr || unlinkat(directory->fd, name, 0) != 0) {
    std::free(copy);
    close(held);
    return false;
  }
  const bool removed = nodes_.UnlinkedHere(parent, name, nodeid, last_link, MonotonicNs());
  transport_.Tell(copy, length, removed);
  transport_.Send(request, 0, nullptr, 0);
  counters_.served.fetch_add(1, std::memory_order_relaxed);
  counters_.unlinks.fetch_add(1, std::memory_order_relaxed);
  counters_.Record(kStatUnlink, start_ns, 0);
  close(held);  // the caller has its answer: the blocks of a last link are freed now
  return true;
}

namespace {
// The umask of this process (the storage's files are made under it), read once: umask(2) can only be read by
// setting it, which would let another thread's file be made under the value set meanwhile.
mode_t ProcessUmask() {
  static const mode_t umask = [] {
    mode_t found = 0777;  // unknown: no CREATE is made here (every permission bit would be "taken")
    if (FILE* status = std::fopen("/proc/self/status", "re")) {
      char line[128];
      unsigned value;
      while (std::fgets(line, sizeof line, status) != nullptr) {
        if (std::sscanf(line, "Umask: %o", &value) == 1) {
          found = static_cast<mode_t>(value & 0777);
          break;
        }
      }
      std::fclose(status);
    }
    return found;
  }();
  return umask;
}
}  // namespace

// A CREATE of a regular file in an attached directory without a default ACL, whose permission (the caller's
// umask applied, under DONT_MASK) this process's umask takes no bits from: the file is made here as the storage makes
// it (openat O_CREAT | O_EXCL, read and write, on the directory's descriptor) and its statx taken, both on this thread,
// rather than by JavaScript through the ring (where an O_CREAT openat always goes to an io-wq worker). JavaScript gets
// the request with the descriptor and the statx after it (mount/kernel/request.ts) and does the rest (its handle of the
// file, the node, the owner, the reply). A failed openat changed nothing: the request goes to JavaScript as it came,
// which answers with the storage's error.
bool DataPath::ServeCreate(const Request& request) {
  const uint64_t start_ns = MonotonicNs();
  const char* name = timeouts_.changes_names ? NameAfter(request, sizeof(CreateIn)) : nullptr;
  if (name == nullptr || std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) return false;
  CreateIn in;
  std::memcpy(&in, request.arg, sizeof in);
  if (!S_ISREG(in.mode)) return false;
  std::shared_ptr<AttachedDirectory> directory = nodes_.Directory(request.header.nodeid);
  if (!directory || directory->LeavesToJavaScript(name)) return false;
  mode_t permission = in.mode & 07777;
  if ((permission & in.umask & 0777) != 0) {
    // the caller's umask, ours to apply (DONT_MASK) where the directory has no default ACL (which would
    // stand instead); one with an ACL goes to JavaScript
    if (HasDefaultAcl(directory->fd) != 0) return false;
    permission &= ~(in.umask & 0777);
  }
  if ((permission & ProcessUmask()) != 0) return false;
  struct {
    uint64_t marker;
    uint64_t fd;
    struct statx stx;
  } made;
  static_assert(sizeof made == 16 + sizeof(struct statx), "a marker, a descriptor, a statx");
  const int fd = openat(directory->fd, name, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_CREAT | O_EXCL, permission);
  if (fd < 0) return false;
  made.marker = kCreatedHere;
  made.fd = static_cast<uint64_t>(fd);
  // undone when JavaScript will not hear of it: a failed statx, or a mode other than asked (a default ACL, or
  // the process's umask changed since it was read: the request goes to JavaScript as it came, which makes it
  // right), or no memory for the copy (the request answered ENOMEM)
  const bool stated = statx(fd, "", AT_EMPTY_PATH, kLookupStatxMask, &made.stx) == 0;
  const bool as_asked = stated && (made.stx.stx_mode & 07777) == permission;
  // answered here with a slot JavaScript reserved; a set-user-ID or set-group-ID file goes to JavaScript (a
  // chown for the caller clears those bits)
  // (JavaScript learns names that are UTF-8 only; an ASCII one is, cheaply checked)
  CreateSlot slot;
  size_t left = 0;
  const bool ascii = std::all_of(name, name + std::strlen(name), [](char c) { return (c & 0x80) == 0; });
  if (as_asked && (permission & 06000) == 0 && ascii && files_.TakeSlot(&slot, &left)) {
    if (AnswerCreate(request, *directory, name, fd, &made.stx, slot, left, start_ns)) return true;
    files_.GiveBack(slot);
  }
  if (!as_asked || !transport_.ForwardCopy(request, &made, sizeof made)) {
    close(fd);
    unlinkat(directory->fd, name, 0);
    return as_asked;
  }
  counters_.creates.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// The CREATE answered here: the file given to the caller when the mount runs as root (as JavaScript's
// ownedByCaller: its uid, its gid unless the directory is set-group-ID), a duplicate of its descriptor
// attached as handle slot.fh of node slot.nodeid (the size cell JavaScript gave with them), the name known
// and the node held as an OPEN's handle holds it, JavaScript told (before the reply, as an UNLINK made here:
// whatever the kernel asks about the file after the reply finds it learned), then the entry and the open
// handle sent. JavaScript takes `fd` for the storage as it takes a file made for it (operations.ts).
bool DataPath::AnswerCreate(const Request& request, const AttachedDirectory& directory, const char* name, int fd,
                            struct statx* stx, const CreateSlot& slot, size_t slots_left, uint64_t start_ns) {
  const int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return false;
  const uint32_t uid = request.header.uid;
  const uint32_t gid = request.header.gid;
  static const bool as_root = geteuid() == 0;  // the mount's, which does not change
  if (as_root && (uid != 0 || gid != 0)) {
    struct statx parent;
    bool given = statx(directory.fd, "", AT_EMPTY_PATH, STATX_MODE, &parent) == 0 &&
                 fchown(fd, uid, (parent.stx_mode & S_ISGID) != 0 ? static_cast<gid_t>(-1) : gid) == 0 &&
                 statx(fd, "", AT_EMPTY_PATH, kLookupStatxMask, stx) == 0;
    if (!given) {
      close(own);
      return false;
    }
  }
  struct {
    uint64_t marker;
    uint64_t fd;
    uint64_t nodeid;
    uint64_t fh;
    struct statx stx;
  } told{kAnsweredHere, static_cast<uint64_t>(fd), slot.nodeid, slot.fh, *stx};
  static_assert(sizeof told == 32 + sizeof(struct statx), "a marker, a descriptor, a node, a handle, a statx");
  size_t length = 0;
  uint8_t* copy = Copy(request, &told, sizeof told, &length);
  if (copy == nullptr) {
    close(own);
    return false;
  }
  nodes_.Hold(slot.nodeid, 1);
  nodes_.Named(request.header.nodeid, name, slot.nodeid, FileOf(*stx));
  AttachOptions options;
  options.owns_fd = true;
  files_.Attach(slot.fh, own, slot.nodeid, slot.size, options);
  // JavaScript need not hear of it at once (whatever it is asked next comes after it), but gives new slots
  // when it does: woken when they run low
  transport_.Tell(copy, length, slots_left >= kSlotsLow);
  struct {
    EntryOut entry;
    OpenOut open;
  } out{EntryOf(slot.nodeid, *stx, timeouts_), OpenOut{slot.fh, 0, 0}};
  static_assert(sizeof out == sizeof(EntryOut) + sizeof(OpenOut), "fuse_entry_out, then fuse_open_out");
  transport_.Send(request, 0, &out, sizeof out);
  counters_.served.fetch_add(1, std::memory_order_relaxed);
  counters_.answered_creates.fetch_add(1, std::memory_order_relaxed);
  counters_.Record(kStatCreate, start_ns, 0);
  return true;
}

// A GETXATTR of an attribute JavaScript found absent, and nothing set or removed any attribute since
// (node-table.h, "Absent extended attributes"): ENODATA, without JavaScript. Every other goes to JavaScript.
bool DataPath::ServeGetxattr(const Request& request) {
  const uint64_t start_ns = MonotonicNs();
  const char* name = NameAfter(request, sizeof(GetxattrIn));
  if (name == nullptr) return false;
  const std::string_view attribute(name);
  if (!nodes_.XattrAbsent(request.header.nodeid, attribute)) {
    if (!nodes_.MayList(request.header.nodeid, attribute) || !ListsNoXattrs(request.header.nodeid)) return false;
    counters_.xattr_lists.fetch_add(1, std::memory_order_relaxed);
  }
  transport_.Send(request, ENODATA, nullptr, 0);
  counters_.served.fetch_add(1, std::memory_order_relaxed);
  counters_.Record(kStatGetxattr, start_ns, ENODATA);
  return true;
}

// Lists the attributes of node `nodeid`'s file through a name the table knows for it (node-table.h, "Absent
// extended attributes"): true when it has none (remembered for the node), false when it has some or the file
// could not be reached as the node's (JavaScript answers).
bool DataPath::ListsNoXattrs(uint64_t nodeid) {
  uint64_t forgets = 0;
  char names[256];
  ssize_t length = -1;
  // through a handle of the node attached for the data path when there is one (a file just made and written
  // asks for security.capability at its first write): its descriptor is the node's file where the storage's
  // attributes are its own; else by the name
  if (std::shared_ptr<OpenFile> file = files_.UseOfNode(nodeid)) {
    uint64_t root_device = 0;
    forgets = nodes_.XattrForgets(&root_device);
    struct statx stx;
    if (!file->attributes_by_storage && statx(file->fd, "", AT_EMPTY_PATH, STATX_TYPE, &stx) == 0 &&
        NodeTable::DeviceOf(stx) == root_device) {
      length = flistxattr(file->fd, names, sizeof names);
      if (length < 0 && errno == ERANGE) length = sizeof names;  // more than fit here: some
    }
    files_.Done(*file);
    if (length < 0) return false;
  } else {
    const int fd = nodes_.OpenNodeFile(nodeid, false, &forgets);
    if (fd < 0) return false;
    char path[32];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    length = listxattr(path, names, sizeof names);
    if (length < 0 && errno == ERANGE) length = sizeof names;  // more than fit here: some
    close(fd);
  }
  if (length < 0) return false;
  if (length > 0) {
    nodes_.HasXattrs(nodeid);
    return false;
  }
  nodes_.NoXattrsSince(nodeid, forgets);
  return true;
}

uint8_t* DataPath::Copy(const Request& request, const void* extra, size_t extra_length, size_t* length) {
  *length = sizeof(InHeader) + request.arg_length + request.data_length + extra_length;
  auto* copy = static_cast<uint8_t*>(std::malloc(*length));
  if (copy == nullptr) return nullptr;
  uint8_t* at = copy;
  std::memcpy(at, &request.header, sizeof(InHeader));
  at += sizeof(InHeader);
  if (request.arg_length > 0) std::memcpy(at, request.arg, request.arg_length);
  at += request.arg_length;
  if (request.data_length > 0) std::memcpy(at, request.data, request.data_length);
  at += request.data_length;
  if (extra_length > 0) std::memcpy(at, extra, extra_length);
  return copy;
}

void DataPath::Retire(Op* op) {
  std::unique_ptr<Op> owned(op);
  if (op->owned != nullptr) {
    if (op->owned == op->request.buffer || op->length > kSmallReply) {
      GiveBuffer(op->owned);
    } else {
      std::free(op->owned);
    }
  }
  inflight_--;
  if (op->kind == Op::kWriteback) writebacks_inflight_--;
  files_.Done(*op->file);
}

}  // namespace persistfs::fuse
