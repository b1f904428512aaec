// DataPath: the hot operations on open files, answered without JavaScript. When JavaScript opens a file
// for the kernel (OPEN, CREATE) it attaches the handle: the storage's descriptor, checked at OPEN, and the
// storage's size cell for the file. From then on READ, WRITE, FSYNC, FLUSH, RELEASE and GETATTR of that
// handle are served here, on the reader's thread, with their IO on the reader's io_uring: a WRITE becomes
// one IORING_OP_WRITE on the storage's descriptor, its completion one writev of the reply to /dev/fuse.
// JavaScript keeps the policy and the storage's state: a write past the end raises the size cell it reads,
// a RELEASE is reported back so it closes the storage's file, and a write whose file still has privilege
// bits to remove (HANDLE_KILLPRIV_V2) is handed to it. Any other request goes to JavaScript.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace persistfs::fuse {

// An attached handle. Used by the reader's thread only, once attached.
struct OpenFile {
  uint64_t fh;
  int fd;
  uint64_t nodeid;
  uint64_t* size;               // the storage's size of the file: a float64 that JavaScript reads
  uint32_t inflight = 0;        // operations whose IO is in the ring
  uint64_t release_unique = 0;  // a RELEASE that waits for them
  bool released = false;
};

class DataPath {
 public:
  // A request for JavaScript: the callee takes `buffer` (malloc'ed).
  using Forward = std::function<void(uint8_t* buffer, size_t length)>;
  // A handle released here: JavaScript closes the storage's file.
  using Released = std::function<void(uint64_t fh, uint64_t nodeid)>;

  DataPath(int fuse_fd, size_t buffer_size, Forward forward, Released released);
  ~DataPath();
  DataPath(const DataPath&) = delete;
  DataPath& operator=(const DataPath&) = delete;

  // JavaScript's thread.
  void Attach(uint64_t fh, int fd, uint64_t nodeid, uint64_t* size);
  void SetAttrValid(uint64_t seconds, uint32_t nanoseconds);

  struct Counters {
    uint64_t served = 0;     // requests answered here
    uint64_t forwarded = 0;  // requests of attached handles handed to JavaScript
    uint64_t bytes_read = 0;
    uint64_t bytes_written = 0;
    uint64_t writes = 0;  // WRITE requests written to the storage's file
    uint64_t largest_write = 0;
  };
  Counters counters() const;

  // The reader's thread.
  int Init(unsigned entries);  // sets up the ring: 0 or -errno
  io_uring* ring() { return &ring_; }
  io_uring_sqe* Sqe();  // a free SQE, submitting what is queued when the ring is full
  // Serves the request in `buffer` (`length` bytes) when it is ours. Returns false when it is not (the
  // caller forwards it); true when served, and then *kept says whether the request holds on to `buffer`.
  bool Serve(uint8_t* buffer, size_t length, bool* kept);
  void Complete(const io_uring_cqe* cqe);  // a CQE whose user_data is an operation of ours
  uint32_t inflight() const { return inflight_; }
  // Buffers of buffer_size bytes (malloc'ed, so whoever takes one may free() it).
  uint8_t* TakeBuffer();
  void GiveBuffer(uint8_t* buffer);

 private:
  struct Op;
  std::shared_ptr<OpenFile> Find(uint64_t fh);
  void Submit(Op* op);
  void StartWrite(Op* op);
  void Finish(Op* op, int error);  // replies (error 0: with the op's result), frees, settles RELEASE
  void Reply(uint64_t unique, int error, const void* body, size_t length);

  const int fuse_fd_;
  const size_t buffer_size_;
  Forward forward_;
  Released released_;
  io_uring ring_{};
  bool ring_ready_ = false;
  uint32_t inflight_ = 0;
  std::vector<uint8_t*> spare_;  // buffers kept for reuse

  std::mutex mutex_;  // guards what follows (JavaScript attaches, the reader looks up)
  std::unordered_map<uint64_t, std::shared_ptr<OpenFile>> files_;
  uint64_t attr_valid_sec_ = 1;
  uint32_t attr_valid_nsec_ = 0;

  // written by the reader's thread, read by JavaScript's
  std::atomic<uint64_t> served_{0}, forwarded_{0}, bytes_read_{0}, bytes_written_{0}, writes_{0}, largest_write_{0};
};

}  // namespace persistfs::fuse
