// One io_uring instance owned by a JavaScript UringEngine.
//
// JavaScript prepares requests into numbered slots (user_data = slot), then calls submit() once per tick
// or when its threshold is reached: one io_uring_enter for the whole batch. The event loop thread watches
// the ring's own descriptor with a libuv poll handle (readable while the CQ holds completions), so no
// thread is spent per request, nor a read of an eventfd per wake-up. Each wake-up reaps every available
// CQE into a Float64Array shared with JavaScript (pairs of slot, result) and calls back into JavaScript
// once for the whole batch.
#pragma once

#include <liburing.h>
#include <napi.h>
#include <uv.h>

#include <vector>

namespace persistfs {

class Ring : public Napi::ObjectWrap<Ring> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Ring(const Napi::CallbackInfo& info);
  ~Ring() override;

 private:
  // Per-slot memory the kernel may read after prep: iovec arrays and openat2's open_how.
  struct SlotMemory {
    std::vector<iovec> iov;
    open_how how;
  };

  io_uring_sqe* NextSqe(const Napi::Env& env, uint32_t slot);
  // Takes an SQE for `slot`, lets `prep` fill it, tags it with the slot and counts it as prepared. Every
  // argument is read and checked before: a throw must not leave a stale SQE in the ring.
  template <typename Prep>
  Napi::Value Queue(const Napi::Env& env, uint32_t slot, Prep prep);
  uint32_t Reap();
  void UpdateLiveness();
  void Teardown();
  static void OnPoll(uv_poll_t* handle, int status, int events);

  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value Readv(const Napi::CallbackInfo& info);
  Napi::Value Writev(const Napi::CallbackInfo& info);
  Napi::Value Fsync(const Napi::CallbackInfo& info);
  Napi::Value Openat2(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Statx(const Napi::CallbackInfo& info);
  Napi::Value Renameat2(const Napi::CallbackInfo& info);
  Napi::Value Unlinkat(const Napi::CallbackInfo& info);
  Napi::Value Mkdirat(const Napi::CallbackInfo& info);
  Napi::Value Symlinkat(const Napi::CallbackInfo& info);
  Napi::Value Linkat(const Napi::CallbackInfo& info);
  Napi::Value Fallocate(const Napi::CallbackInfo& info);
  Napi::Value Ftruncate(const Napi::CallbackInfo& info);
  Napi::Value Submit(const Napi::CallbackInfo& info);
  Napi::Value Supports(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);

  Napi::Value ReadWrite(const Napi::CallbackInfo& info, bool write);
  Napi::Value Vectored(const Napi::CallbackInfo& info, bool write);

  io_uring ring_{};
  bool ring_ready_ = false;
  uv_poll_t* poll_ = nullptr;  // freed in its close callback, which may run after this object is gone
  bool alive_ref_ = false;     // the JS object and the poll handle are kept alive while work is in flight
  Napi::FunctionReference on_complete_;
  Napi::Reference<Napi::Float64Array> results_ref_;
  double* results_ = nullptr;
  uint32_t results_pairs_ = 0;
  std::vector<SlotMemory> slots_;
  io_uring_probe* probe_ = nullptr;
  uint32_t queued_ = 0;     // prepared, not yet submitted
  uint32_t in_kernel_ = 0;  // submitted, completion not reaped yet
  uint64_t submits_ = 0;    // io_uring_enter calls that submitted work
  uint64_t submitted_ = 0;  // SQEs handed to the kernel
  uint64_t completed_ = 0;  // CQEs reaped
};

}  // namespace persistfs
