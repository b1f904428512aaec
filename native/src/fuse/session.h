// FuseSession: one FUSE connection. It opens /dev/fuse and mounts it (mount(2), as root), or has
// fusermount3 mount it and pass the descriptor back (any user), and runs reader threads (4 a CPU, ReaderCount
// in session.cc), each around an io_uring of its own: the ring tells it when /dev/fuse is readable and carries the IO
// of the requests the data path (data-path.h) answers itself. Every other request goes to JavaScript in batches: the
// reader queues every request it can read without waiting, and one wake-up of the event loop (a uv_async of our own,
// sent after the queue's lock is let go) drains the whole queue there (one wake-up for many requests). JavaScript
// writes its replies itself, one writev each (a reply to /dev/fuse never blocks). Without io_uring the reader polls and
// JavaScript answers everything. When INIT agreed on FUSE over io_uring, startUring() adds one queue per CPU
// (uring-queue.h); the kernel then sends its requests there, and only FORGET and INTERRUPT still come through
// /dev/fuse.
#pragma once

#include <liburing.h>
#include <napi.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "data-path.h"
#include "file-table.h"
#include "uring-queue.h"

namespace persistfs::fuse {

class FuseSession : public Napi::ObjectWrap<FuseSession>, public DataPath::Transport {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit FuseSession(const Napi::CallbackInfo& info);
  ~FuseSession() override;

 private:
  struct Request {
    uint8_t* data;
    size_t length;
  };

  Napi::Value Mount(const Napi::CallbackInfo& info);
  Napi::Value MountWithFusermount(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value StartUring(const Napi::CallbackInfo& info);
  Napi::Value RegisterUring(const Napi::CallbackInfo& info);
  Napi::Value BackingOpen(const Napi::CallbackInfo& info);
  Napi::Value BackingClose(const Napi::CallbackInfo& info);
  Napi::Value Reply(const Napi::CallbackInfo& info);
  Napi::Value Unmount(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value AttachDirectory(const Napi::CallbackInfo& info);
  Napi::Value DetachDirectory(const Napi::CallbackInfo& info);
  Napi::Value AttachAttributes(const Napi::CallbackInfo& info);
  Napi::Value Removed(const Napi::CallbackInfo& info);
  Napi::Value Hold(const Napi::CallbackInfo& info);
  Napi::Value GiveCreateSlot(const Napi::CallbackInfo& info);
  Napi::Value AbsentXattr(const Napi::CallbackInfo& info);
  Napi::Value ForgetXattrs(const Napi::CallbackInfo& info);
  Napi::Value NoXattrs(const Napi::CallbackInfo& info);
  Napi::Value AbsentName(const Napi::CallbackInfo& info);
  Napi::Value Named(const Napi::CallbackInfo& info);
  Napi::Value Unnamed(const Napi::CallbackInfo& info);
  Napi::Value Settle(const Napi::CallbackInfo& info);
  static Napi::Value EntryOf(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);

  // A thread reading /dev/fuse: its own ring (for the poll and the data path's IO) and data path, and its
  // own clone of the device, read blocking while it has nothing else to wait for (see ReadLoop).
  struct Reader {
    std::thread thread;
    io_uring ring{};
    std::unique_ptr<DataPath> data;     // null without io_uring: everything goes to JavaScript
    int fd = -1;                        // the clone (no O_NONBLOCK); -1: none, the reader only polls fd_
    std::atomic<bool> blocking{false};  // in (or about to be in) that read
    std::atomic<bool> done{false};      // the thread has left its loop
  };

  void ReadLoop(Reader& reader);
  void PollLoop(Reader& reader);                                             // without io_uring
  bool ReadAvailable(Reader& reader, uint8_t** buffer, int* error);          // false once reading is over
  bool Dispatch(Reader& reader, uint8_t** buffer, size_t length, int from);  // false when out of memory
  bool ReadBlocking(Reader& reader, uint8_t** buffer, int* error);           // false once reading is over
  void Enqueue(Request request, bool lazy = false, int from = -1);
  enum class Wakeup { kNone, kTimer, kNow };
  Wakeup QueueLazy();  // with mutex_ held: the wake-up a lazy request just queued needs (see Enqueue)
  void Finish(int error);
  void Wake(Wakeup wakeup = Wakeup::kNow);  // without mutex_ held: the event loop drains the queue (kNow), or
                                            // times the wait of the lazy requests in it (kTimer)
  static void OnWake(uv_async_t* handle);
  static void OnLazyTimer(uv_timer_t* timer);
  void DrainOnLoop();  // on the event loop
  void Drain(Napi::Env env);
  void StopReader();
  void CloseWake();  // on the JavaScript thread, once no reader or queue can wake it

  // DataPath::Transport, for the requests read from /dev/fuse
  void Send(const DataPath::Request& request, int error, const void* body, size_t length) override;
  void Forward(const DataPath::Request& request) override;
  bool ForwardCopy(const DataPath::Request& request, const void* extra, size_t extra_length) override;
  void Tell(uint8_t* copy, size_t length, bool lazy) override;

  int fd_ = -1;
  int stop_fd_ = -1;                   // an eventfd: written to stop the reader
  std::atomic<bool> stopping_{false};  // ... and this set first, for readers blocked in a read of their clone
  size_t buffer_size_ = 0;
  ReplySplice splice_;  // which READ replies go by splice (data-path.h), each to its request's descriptor
  std::vector<std::unique_ptr<Reader>> readers_;  // ReaderCount(): several a CPU
  FileTable files_;
  NodeTable nodes_;
  DataPathCounters counters_;
  DataPath::Timeouts timeouts_;
  std::atomic<bool> native_{false};                  // a reader got its ring: the data path runs
  std::atomic<uint64_t> empty_reads_{0};             // reads of /dev/fuse that found no request (EAGAIN)
  std::atomic<uint64_t> drains_{0};                  // the event loop's drains of the queue (some find it empty)
  std::atomic<uint64_t> urgent_wakes_{0};            // wake-ups asking for a drain at once (Wake, kNow)
  std::atomic<uint64_t> thread_reads_{0};            // readers in a pread of a READ now (data-path.h, ThreadReads)
  std::atomic<uint64_t> thread_reads_limit_{0};      // ... at most this many: half the readers started
  static constexpr uint32_t kLazyBatch = 256;        // lazy requests wait for a drain: at most this many (Enqueue)
  static constexpr uint64_t kLazyWaitMs = 10;        // ... for at most about this long
  std::vector<std::unique_ptr<UringQueue>> queues_;  // FUSE over io_uring, one per CPU, once started
  // JavaScript's thread: the cells of attached handles (size, ready, served, changes), kept alive while the data path
  // may use them
  std::unordered_map<uint64_t, std::vector<Napi::Reference<Napi::TypedArray>>> cells_;
  // The event loop's wake-up (its data this session, null once the session is gone). Not a thread-safe
  // function: that one sends its wake-up while holding its own lock, so the woken event loop found the lock
  // still held by the preempted reader and slept on it (1-2 futex waits per request on 2 CPUs).
  uv_async_t* wake_ = nullptr;
  uv_timer_t* lazy_timer_ = nullptr;  // the event loop's: drains lazy requests kLazyWaitMs after the first
  std::atomic<bool> urgent_{false};   // something queued since the last drain is waited for (Wake)
  bool stopped_ = false;              // readers and queues stopped: the wake-up closes once the end is reported
  Napi::FunctionReference on_requests_;
  Napi::FunctionReference on_end_;

  std::mutex mutex_;  // guards what follows
  std::vector<Request> queue_;
  std::vector<uint64_t> released_;  // pairs of handle and node the data path released
  uint32_t lazy_ = 0;               // of what is queued (requests, releases), how many wait for no wake-up of their own
  std::unordered_map<uint64_t, UringQueue::Entry*> in_javascript_;  // ring entries whose reply JavaScript owes
  std::unordered_map<uint64_t, int> reply_to_;  // requests JavaScript answers that came through a reader's clone
  size_t readers_ended_ = 0;
  size_t readers_started_ = 0;  // of readers_: the others could not have a thread (counted as ended)
  bool ended_ = false;          // every reader has stopped (end_error_ says why)
  bool end_reported_ = false;
  int end_error_ = 0;
};

}  // namespace persistfs::fuse
