// UringQueue: one FUSE-over-io_uring queue (protocol.h), the queue of one CPU: the kernel hands it the
// requests made by tasks running on that CPU. One thread, pinned to the CPU, owns a ring of 128-byte SQEs
// that carries both the FUSE commands of its entries and the data path's IO (data-path.h), so a WRITE goes
// kernel -> entry -> IORING_OP_WRITE -> COMMIT_AND_FETCH -> kernel on this thread alone. Requests the data
// path does not serve are copied out for JavaScript; JavaScript's reply is copied into the entry and the
// thread, woken through an eventfd, commits it.
#pragma once

#include <liburing.h>
#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "data-path.h"

namespace persistfs::fuse {

class UringQueue : public DataPath::Transport {
 public:
  struct Entry {
    UringHeaders* headers;  // page-aligned memory of its own
    uint8_t* payload;
    size_t payload_size;
    iovec iov[2];
    uint64_t unique = 0;  // the request it holds, while it holds one
    UringQueue* queue;
  };

  struct Hooks {
    // A request for JavaScript (malloc'ed; the callee takes it) whose reply must come back through
    // Reply(entry, ...): `unique` is its id. Or, with no entry, what the data path did (Tell); `lazy`: it may
    // wait for JavaScript's next wake-up (session.cc, Enqueue).
    std::function<void(uint8_t* request, size_t length, uint64_t unique, Entry* entry, bool lazy)> to_javascript;
  };

  UringQueue(int fuse_fd, unsigned qid, unsigned depth, size_t payload_size, FileTable& files, NodeTable& nodes,
             DataPathCounters& counters, DataPath::Timeouts timeouts, Hooks hooks);
  ~UringQueue() override;  // stops the thread (Stop) and frees the entries
  UringQueue(const UringQueue&) = delete;
  UringQueue& operator=(const UringQueue&) = delete;

  // Starts the thread, which sets up the ring: 0, or -errno (no ring). Before INIT is answered.
  int Start();
  // Has the thread offer its entries to the kernel (REGISTER). Once INIT is answered: not before.
  void Register();
  // Stops the thread once no data-path IO is in flight; entries still registered are cancelled with the ring.
  void Stop();

  // JavaScript's thread: the reply to the request `entry` holds (error, or the body in `parts`).
  void Reply(Entry* entry, int error, const iovec* parts, size_t count);

  // What happened, for the log: entries registered, requests seen, the first error the kernel answered.
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  int kernel_error() const { return kernel_error_.load(std::memory_order_relaxed); }

  // DataPath::Transport
  void Send(const DataPath::Request& request, int error, const void* body, size_t length) override;
  void Forward(const DataPath::Request& request) override;
  bool ForwardCopy(const DataPath::Request& request, const void* extra, size_t extra_length) override;
  void Tell(uint8_t* copy, size_t length, bool lazy) override;

 private:
  void Run();
  void Command(Entry* entry, uint32_t command);  // REGISTER or COMMIT_AND_FETCH
  void Arrived(Entry* entry);                    // a request is in `entry`
  void Commit(Entry* entry, int error, size_t payload_length);

  const int fuse_fd_;
  const unsigned qid_;
  const size_t payload_size_;
  FileTable& files_;
  NodeTable& nodes_;
  DataPathCounters& counters_;
  const DataPath::Timeouts timeouts_;
  Hooks hooks_;
  std::vector<Entry> entries_;
  io_uring ring_{};
  std::unique_ptr<DataPath> data_;
  std::thread thread_;
  int wake_fd_ = -1;  // eventfd: JavaScript's replies are waiting
  int stop_fd_ = -1;  // eventfd: stop
  int setup_error_ = 0;
  std::atomic<uint64_t> requests_{0};
  std::atomic<int> kernel_error_{0};

  struct Staged {  // a reply of JavaScript's, its body already in the entry's payload
    Entry* entry;
    int error;
    size_t length;
  };
  std::mutex mutex_;  // guards what follows
  std::vector<Staged> staged_;
  bool register_ = false;  // Register() asked; the thread has not yet
};

}  // namespace persistfs::fuse
