// See data-path.h. Every method but Attach, SetAttrValid and counters runs on the reader's thread.
#include "data-path.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "protocol.h"

namespace persistfs::fuse {

namespace {

// Buffers kept for reuse: enough for the requests the kernel has in flight at once.
constexpr size_t kKeepBuffers = 16;
// A READ reply up to this size gets a buffer of its own size; a larger one a reusable full-size buffer.
constexpr size_t kSmallReply = 64 * 1024;
// The largest file size the storage addresses exactly (its File's checkExtent): past it is EFBIG.
constexpr uint64_t kLargestEnd = (uint64_t{1} << 53) - 1;

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
uint32_t DeviceNumber(uint32_t major, uint32_t minor) { return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12); }

}  // namespace

struct DataPath::Op {
  enum Kind { kRead, kWrite, kCheckPrivileges, kFsync, kGetattr } kind;
  std::shared_ptr<OpenFile> file;
  uint64_t unique = 0;
  uint8_t* buffer = nullptr;  // READ: the reply (header, then data); WRITE: the request, which holds the data
  bool pooled = false;        // buffer is a full-size one to give back
  uint8_t* data = nullptr;    // where the bytes to read or write are in `buffer`
  size_t length = 0;          // how many
  size_t done = 0;            // how many so far (a short transfer is resubmitted for the rest)
  uint64_t offset = 0;
  size_t request_length = 0;  // WRITE: the request's length, should it go to JavaScript after all
  unsigned fsync_flags = 0;
  struct statx stx;
};

DataPath::DataPath(int fuse_fd, size_t buffer_size, Forward forward, Released released)
    : fuse_fd_(fuse_fd), buffer_size_(buffer_size), forward_(std::move(forward)), released_(std::move(released)) {}

DataPath::~DataPath() {
  if (ring_ready_) io_uring_queue_exit(&ring_);
  for (uint8_t* buffer : spare_) std::free(buffer);
}

int DataPath::Init(unsigned entries) {
  // One thread submits and reaps; completions' task work runs when it waits, not by interrupting it.
  int result = io_uring_queue_init(entries, &ring_, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
  if (result == -EINVAL) result = io_uring_queue_init(entries, &ring_, 0);  // an older kernel
  ring_ready_ = result == 0;
  return result;
}

void DataPath::Attach(uint64_t fh, int fd, uint64_t nodeid, uint64_t* size) {
  auto file = std::make_shared<OpenFile>();
  file->fh = fh;
  file->fd = fd;
  file->nodeid = nodeid;
  file->size = size;
  std::lock_guard<std::mutex> lock(mutex_);
  files_[fh] = std::move(file);
}

void DataPath::SetAttrValid(uint64_t seconds, uint32_t nanoseconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  attr_valid_sec_ = seconds;
  attr_valid_nsec_ = nanoseconds;
}

DataPath::Counters DataPath::counters() const {
  Counters c;
  c.served = served_.load(std::memory_order_relaxed);
  c.forwarded = forwarded_.load(std::memory_order_relaxed);
  c.bytes_read = bytes_read_.load(std::memory_order_relaxed);
  c.bytes_written = bytes_written_.load(std::memory_order_relaxed);
  c.writes = writes_.load(std::memory_order_relaxed);
  c.largest_write = largest_write_.load(std::memory_order_relaxed);
  return c;
}

std::shared_ptr<OpenFile> DataPath::Find(uint64_t fh) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = files_.find(fh);
  return it == files_.end() ? nullptr : it->second;
}

uint8_t* DataPath::TakeBuffer() {
  if (spare_.empty()) return static_cast<uint8_t*>(std::malloc(buffer_size_));
  uint8_t* buffer = spare_.back();
  spare_.pop_back();
  return buffer;
}

void DataPath::GiveBuffer(uint8_t* buffer) {
  if (spare_.size() < kKeepBuffers) {
    spare_.push_back(buffer);
  } else {
    std::free(buffer);
  }
}

io_uring_sqe* DataPath::Sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void DataPath::Reply(uint64_t unique, int error, const void* body, size_t length) {
  OutHeader header{static_cast<uint32_t>(sizeof(OutHeader) + (error == 0 ? length : 0)), -error, unique};
  iovec iov[2] = {{&header, sizeof header}, {const_cast<void*>(body), length}};
  // A reply to /dev/fuse never blocks. It fails with ENOENT when the request was interrupted meanwhile
  // and with ENODEV once the connection is gone: either way nobody waits for it any more.
  ssize_t written = writev(fuse_fd_, iov, error == 0 && length > 0 ? 2 : 1);
  (void)written;
}

bool DataPath::Serve(uint8_t* buffer, size_t length, bool* kept) {
  *kept = false;
  InHeader header;
  if (length < sizeof header + sizeof(FhIn)) return false;
  std::memcpy(&header, buffer, sizeof header);
  if (header.len != length || header.total_extlen != 0) return false;  // JavaScript answers what is malformed
  const uint8_t* body = buffer + sizeof header;
  const size_t body_length = length - sizeof header;

  uint64_t fh;
  switch (header.opcode) {
    case kGetattr: {
      GetattrIn in;
      std::memcpy(&in, body, sizeof in);
      if ((in.getattr_flags & kGetattrFh) == 0) return false;  // a stat by node: JavaScript knows the path
      fh = in.fh;
      break;
    }
    case kRead:
    case kWrite:
    case kRelease:
    case kFsync:
    case kFlush:
      std::memcpy(&fh, body, sizeof fh);
      break;
    default:
      return false;
  }
  std::shared_ptr<OpenFile> file = Find(fh);
  if (!file || file->nodeid != header.nodeid) return false;

  auto op = std::make_unique<Op>();
  op->file = file;
  op->unique = header.unique;
  switch (header.opcode) {
    case kFlush:  // nothing is buffered here: the data went down at each WRITE
      Reply(header.unique, 0, nullptr, 0);
      served_.fetch_add(1, std::memory_order_relaxed);
      return true;

    case kRelease: {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        files_.erase(fh);
      }
      served_.fetch_add(1, std::memory_order_relaxed);
      if (file->inflight == 0) {
        Reply(header.unique, 0, nullptr, 0);
        released_(fh, file->nodeid);
      } else {
        file->released = true;  // answered when the last operation on it completes
        file->release_unique = header.unique;
      }
      return true;
    }

    case kFsync: {
      FhIn in;
      std::memcpy(&in, body, sizeof in);
      op->kind = Op::kFsync;
      op->fsync_flags = (in.flags & kFsyncFdatasync) ? IORING_FSYNC_DATASYNC : 0;
      break;
    }

    case kGetattr:
      op->kind = Op::kGetattr;
      break;

    case kRead: {
      ReadIn in;
      if (body_length < sizeof in) return false;
      std::memcpy(&in, body, sizeof in);
      if (sizeof(OutHeader) + in.size > buffer_size_) return false;
      // At or past the end the storage knows, there is nothing to read (the storage's own rule).
      if (static_cast<double>(in.offset) >= SizeOf(file->size) || in.size == 0) {
        Reply(header.unique, 0, nullptr, 0);
        served_.fetch_add(1, std::memory_order_relaxed);
        return true;
      }
      op->kind = Op::kRead;
      op->pooled = sizeof(OutHeader) + in.size > kSmallReply;
      op->buffer = op->pooled ? TakeBuffer() : static_cast<uint8_t*>(std::malloc(sizeof(OutHeader) + in.size));
      if (op->buffer == nullptr) {
        Reply(header.unique, ENOMEM, nullptr, 0);
        return true;
      }
      op->data = op->buffer + sizeof(OutHeader);
      op->length = in.size;
      op->offset = in.offset;
      break;
    }

    case kWrite: {
      WriteIn in;
      if (body_length < sizeof in) return false;
      std::memcpy(&in, body, sizeof in);
      if (body_length != sizeof in + in.size) return false;
      if (in.offset > kLargestEnd || in.size > kLargestEnd - in.offset) {
        Reply(header.unique, EFBIG, nullptr, 0);
        served_.fetch_add(1, std::memory_order_relaxed);
        return true;
      }
      if (in.size == 0) {
        WriteOut out{0, 0};
        Reply(header.unique, 0, &out, sizeof out);
        served_.fetch_add(1, std::memory_order_relaxed);
        return true;
      }
      op->kind = (in.write_flags & kWriteKillSuidgid) ? Op::kCheckPrivileges : Op::kWrite;
      op->buffer = buffer;
      op->pooled = true;  // the reader's buffer: a full-size one
      op->data = buffer + sizeof header + sizeof in;
      op->length = in.size;
      op->offset = in.offset;
      op->request_length = length;
      *kept = true;
      break;
    }

    default:
      return false;
  }
  file->inflight++;
  inflight_++;
  Submit(op.release());
  return true;
}

void DataPath::Submit(Op* op) {
  io_uring_sqe* sqe = Sqe();
  const int fd = op->file->fd;
  switch (op->kind) {
    case Op::kRead:
      io_uring_prep_read(sqe, fd, op->data + op->done, static_cast<unsigned>(op->length - op->done), op->offset + op->done);
      break;
    case Op::kWrite:
      io_uring_prep_write(sqe, fd, op->data + op->done, static_cast<unsigned>(op->length - op->done), op->offset + op->done);
      break;
    case Op::kCheckPrivileges:
    case Op::kGetattr:
      io_uring_prep_statx(sqe, fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &op->stx);
      break;
    case Op::kFsync:
      io_uring_prep_fsync(sqe, fd, op->fsync_flags);
      break;
  }
  io_uring_sqe_set_data(sqe, op);
}

void DataPath::Complete(const io_uring_cqe* cqe) {
  auto* op = static_cast<Op*>(io_uring_cqe_get_data(cqe));
  const int result = cqe->res;
  if (result == -EINTR || result == -EAGAIN) return Submit(op);  // try again
  switch (op->kind) {
    case Op::kRead:
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
        forward_(op->buffer, op->request_length);
        forwarded_.fetch_add(1, std::memory_order_relaxed);
        op->buffer = nullptr;
        op->unique = 0;  // answered by JavaScript
        return Finish(op, 0);
      }
      op->kind = Op::kWrite;
      return Submit(op);
    case Op::kFsync:
    case Op::kGetattr:
      return Finish(op, result < 0 ? -result : 0);
  }
}

void DataPath::Finish(Op* op, int error) {
  std::unique_ptr<Op> owned(op);
  if (op->unique != 0) {
    if (error != 0) {
      Reply(op->unique, error, nullptr, 0);
    } else if (op->kind == Op::kRead) {
      OutHeader header{static_cast<uint32_t>(sizeof(OutHeader) + op->done), 0, op->unique};
      std::memcpy(op->buffer, &header, sizeof header);
      ssize_t written = write(fuse_fd_, op->buffer, sizeof header + op->done);
      (void)written;  // as in Reply
      bytes_read_.fetch_add(op->done, std::memory_order_relaxed);
    } else if (op->kind == Op::kWrite) {
      RaiseSize(op->file->size, op->offset + op->done);
      WriteOut out{static_cast<uint32_t>(op->done), 0};
      Reply(op->unique, 0, &out, sizeof out);
      bytes_written_.fetch_add(op->done, std::memory_order_relaxed);
      writes_.fetch_add(1, std::memory_order_relaxed);
      if (op->done > largest_write_.load(std::memory_order_relaxed)) largest_write_.store(op->done, std::memory_order_relaxed);
    } else if (op->kind == Op::kGetattr) {
      AttrOut out{};
      {
        std::lock_guard<std::mutex> lock(mutex_);
        out.attr_valid = attr_valid_sec_;
        out.attr_valid_nsec = attr_valid_nsec_;
      }
      const struct statx& s = op->stx;
      Attr& a = out.attr;
      a.ino = s.stx_ino;
      a.size = s.stx_size;
      a.blocks = s.stx_blocks;
      a.atime = static_cast<uint64_t>(s.stx_atime.tv_sec);
      a.mtime = static_cast<uint64_t>(s.stx_mtime.tv_sec);
      a.ctime = static_cast<uint64_t>(s.stx_ctime.tv_sec);
      a.atimensec = s.stx_atime.tv_nsec;
      a.mtimensec = s.stx_mtime.tv_nsec;
      a.ctimensec = s.stx_ctime.tv_nsec;
      a.mode = s.stx_mode;
      a.nlink = s.stx_nlink;
      a.uid = s.stx_uid;
      a.gid = s.stx_gid;
      a.rdev = DeviceNumber(s.stx_rdev_major, s.stx_rdev_minor);
      a.blksize = s.stx_blksize;
      Reply(op->unique, 0, &out, sizeof out);
    } else {
      Reply(op->unique, 0, nullptr, 0);
    }
    served_.fetch_add(1, std::memory_order_relaxed);
  } else if (op->kind == Op::kWrite && op->done > 0) {
    RaiseSize(op->file->size, op->offset + op->done);
  }
  if (op->buffer != nullptr) {
    if (op->pooled) {
      GiveBuffer(op->buffer);
    } else {
      std::free(op->buffer);
    }
  }
  inflight_--;
  OpenFile& file = *op->file;
  if (--file.inflight == 0 && file.released) {
    Reply(file.release_unique, 0, nullptr, 0);
    released_(file.fh, file.nodeid);
  }
}

}  // namespace persistfs::fuse
