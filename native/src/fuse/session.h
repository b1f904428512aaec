// FuseSession: one FUSE connection served from JavaScript. It opens /dev/fuse and mounts it (mount(2), as
// root), or has fusermount3 mount it and pass the descriptor back (any user), and runs one reader thread that reads requests into buffers and hands them to JavaScript in
// batches: the reader queues every request it can read without waiting, and one thread-safe call per
// batch drains the whole queue on the event loop (one wake-up for many requests). Replies are written by
// the JavaScript thread itself, one writev each (a reply to /dev/fuse never blocks).
#pragma once

#include <napi.h>

#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace persistfs::fuse {

class FuseSession : public Napi::ObjectWrap<FuseSession> {
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
  Napi::Value Reply(const Napi::CallbackInfo& info);
  Napi::Value Unmount(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);

  void ReadLoop();
  void Enqueue(Request request);
  void Finish(int error);
  void Schedule();  // with mutex_ held
  void Drain(Napi::Env env);
  void StopReader();

  int fd_ = -1;
  int stop_fd_ = -1;  // an eventfd: written to stop the reader
  size_t buffer_size_ = 0;
  std::thread reader_;
  Napi::ThreadSafeFunction deliver_;
  Napi::FunctionReference on_requests_;
  Napi::FunctionReference on_end_;

  std::mutex mutex_;  // guards what follows
  std::vector<Request> queue_;
  bool scheduled_ = false;  // a drain is queued on the event loop
  bool ended_ = false;      // the reader has stopped (end_error_ says why)
  bool end_reported_ = false;
  int end_error_ = 0;
};

}  // namespace persistfs::fuse
