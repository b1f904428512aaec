#include "ring.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "args.h"

namespace persistfs {

// IORING_OP_FTRUNCATE (Linux 6.9) is newer than Debian 12's liburing headers; the kernel probe decides.
constexpr uint8_t kOpFtruncate = 55;

static Napi::Error ErrnoError(Napi::Env env, int err, const char* what) {
  Napi::Error error = Napi::Error::New(env, std::string(what) + ": " + strerror(err));
  error.Set("errno", Napi::Number::New(env, -err));
  return error;
}

Napi::Function Ring::Define(Napi::Env env) {
  return DefineClass(env, "Ring",
                     {
                         InstanceMethod("read", &Ring::Read),           InstanceMethod("write", &Ring::Write),
                         InstanceMethod("readv", &Ring::Readv),         InstanceMethod("writev", &Ring::Writev),
                         InstanceMethod("fsync", &Ring::Fsync),         InstanceMethod("openat2", &Ring::Openat2),
                         InstanceMethod("close", &Ring::Close),         InstanceMethod("statx", &Ring::Statx),
                         InstanceMethod("renameat2", &Ring::Renameat2), InstanceMethod("unlinkat", &Ring::Unlinkat),
                         InstanceMethod("mkdirat", &Ring::Mkdirat),     InstanceMethod("symlinkat", &Ring::Symlinkat),
                         InstanceMethod("linkat", &Ring::Linkat),       InstanceMethod("fallocate", &Ring::Fallocate),
                         InstanceMethod("ftruncate", &Ring::Ftruncate), InstanceMethod("submit", &Ring::Submit),
                         InstanceMethod("supports", &Ring::Supports),   InstanceMethod("counters", &Ring::Counters),
                         InstanceMethod("destroy", &Ring::Destroy),
                     });
}

// new Ring(entries, onComplete(count), results: Float64Array of 2 * 2 * entries)
Ring::Ring(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Ring>(info) {
  Napi::Env env = info.Env();
  uint32_t entries = U32(info, 0);
  if (entries == 0 || entries > 4096) throw Napi::RangeError::New(env, "queue depth must be 1..4096");
  on_complete_ = Napi::Persistent(info[1].As<Napi::Function>());
  auto results = info[2].As<Napi::Float64Array>();
  results_ref_ = Napi::Persistent(results);
  results_ = results.Data();
  results_pairs_ = static_cast<uint32_t>(results.ElementLength() / 2);
  if (results_pairs_ < 2 * entries) throw Napi::RangeError::New(env, "results array too small");

  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
  params.cq_entries = 2 * entries;
  int rc = io_uring_queue_init_params(entries, &ring_, &params);
  if (rc == -EINVAL) {  // kernels before 5.18 do not know SUBMIT_ALL
    params = io_uring_params{};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = 2 * entries;
    rc = io_uring_queue_init_params(entries, &ring_, &params);
  }
  if (rc < 0) throw ErrnoError(env, -rc, "io_uring_queue_init");
  ring_ready_ = true;
  slots_.resize(entries);

  probe_ = io_uring_get_probe_ring(&ring_);

  // The event loop polls the ring's own descriptor: readable while the CQ holds completions.
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  poll_->data = this;
  uv_poll_init(loop, poll_, ring_.ring_fd);
  uv_poll_start(poll_, UV_READABLE, &Ring::OnPoll);
  uv_unref(reinterpret_cast<uv_handle_t*>(poll_));  // idle rings do not keep the process alive
}

// Only reachable with nothing in flight: while work is, the JS object is referenced (UpdateLiveness).
Ring::~Ring() { Teardown(); }

void Ring::Teardown() {
  if (alive_ref_) {  // destroy() may run from inside a completion callback, with work just reaped
    Unref();
    alive_ref_ = false;
  }
  if (poll_ != nullptr) {
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  if (probe_ != nullptr) io_uring_free_probe(probe_);
  probe_ = nullptr;
  if (ring_ready_) io_uring_queue_exit(&ring_);
  ring_ready_ = false;
}

io_uring_sqe* Ring::NextSqe(const Napi::Env& env, uint32_t slot) {
  if (!ring_ready_) throw ErrnoError(env, EBADF, "ring is closed");
  if (slot >= slots_.size()) throw Napi::RangeError::New(env, "slot out of range");
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    // The SQ is as deep as the slot table, so this needs an earlier submit that the kernel refused (EBUSY).
    throw ErrnoError(env, EAGAIN, "submission queue full");
  }
  return sqe;
}

template <typename Prep>
Napi::Value Ring::Queue(const Napi::Env& env, uint32_t slot, Prep prep) {
  io_uring_sqe* sqe = NextSqe(env, slot);
  prep(sqe);
  io_uring_sqe_set_data64(sqe, slot);
  queued_++;
  UpdateLiveness();
  return env.Undefined();
}

void Ring::UpdateLiveness() {
  bool busy = queued_ + in_kernel_ > 0;
  if (busy && !alive_ref_) {
    Ref();
    uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    alive_ref_ = true;
  } else if (!busy && alive_ref_) {
    uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    Unref();
    alive_ref_ = false;
  }
}

Napi::Value Ring::ReadWrite(const Napi::CallbackInfo& info, bool write) {
  uint32_t slot = U32(info, 0);
  int fd = I32(info, 1);
  int64_t length = I64(info, 4);
  uint8_t* data = RangeOf(info, 2, I64(info, 3), length);
  int64_t position = I64(info, 5);
  return Queue(info.Env(), slot, [&](io_uring_sqe* sqe) {
    if (write) {
      io_uring_prep_write(sqe, fd, data, static_cast<unsigned>(length), static_cast<uint64_t>(position));
    } else {
      io_uring_prep_read(sqe, fd, data, static_cast<unsigned>(length), static_cast<uint64_t>(position));
    }
  });
}

// read(slot, fd, buffer, bufferOffset, length, position)
Napi::Value Ring::Read(const Napi::CallbackInfo& info) { return ReadWrite(info, false); }

// write(slot, fd, buffer, bufferOffset, length, position)
Napi::Value Ring::Write(const Napi::CallbackInfo& info) { return ReadWrite(info, true); }

Napi::Value Ring::Vectored(const Napi::CallbackInfo& info, bool write) {
  uint32_t slot = U32(info, 0);
  int fd = I32(info, 1);
  auto buffers = info[2].As<Napi::Array>();
  int64_t position = I64(info, 3);
  if (slot >= slots_.size()) throw Napi::RangeError::New(info.Env(), "slot out of range");
  std::vector<iovec>& iov = slots_[slot].iov;
  uint32_t count = buffers.Length();
  iov.resize(count);
  for (uint32_t i = 0; i < count; i++) {
    Bytes bytes = BytesOf(buffers.Get(i));
    iov[i].iov_base = bytes.data;
    iov[i].iov_len = bytes.length;
  }
  return Queue(info.Env(), slot, [&](io_uring_sqe* sqe) {
    if (write) {
      io_uring_prep_writev(sqe, fd, iov.data(), count, static_cast<uint64_t>(position));
    } else {
      io_uring_prep_readv(sqe, fd, iov.data(), count, static_cast<uint64_t>(position));
    }
  });
}

// readv(slot, fd, buffers, position)
Napi::Value Ring::Readv(const Napi::CallbackInfo& info) { return Vectored(info, false); }

// writev(slot, fd, buffers, position)
Napi::Value Ring::Writev(const Napi::CallbackInfo& info) { return Vectored(info, true); }

// fsync(slot, fd, datasync)
Napi::Value Ring::Fsync(const Napi::CallbackInfo& info) {
  uint32_t slot = U32(info, 0);
  int fd = I32(info, 1);
  unsigned flags = info[2].ToBoolean() ? IORING_FSYNC_DATASYNC : 0;
  return Queue(info.Env(), slot, [&](io_uring_sqe* sqe) { io_uring_prep_fsync(sqe, fd, flags); });
}

// openat2(slot, dirfd, path, flags, mode, resolve)
Napi::Value Ring::Openat2(const Napi::CallbackInfo& info) {
  uint32_t slot = U32(info, 0);
  int dirfd = I32(info, 1);
  const char* path = PathOf(info, 2);
  open_how how{};
  how.flags = U32(info, 3);
  how.mode = U32(info, 4);
  how.resolve = U32(info, 5);
  return Queue(info.Env(), slot, [&](io_uring_sqe* sqe) {
    slots_[slot].how = how;
    io_uring_prep_openat2(sqe, dirfd, path, &slots_[slot].how);
  });
}

// close(slot, fd)
Napi::Value Ring::Close(const Napi::CallbackInfo& info) {
  uint32_t slot = U32(info, 0);
  int fd = I32(info, 1);
  return Queue(info.Env(), slot, [&](io_uring_sqe* sqe) { io_uring_prep_close(sqe, fd); });
}

// statx(slot, dirfd, path, flags, mask, out: Uint8Array of 256 bytes)
Napi::Value Ring::Statx(const Napi::CallbackInfo& info) {
  uint32_t slot = U32(info, 0);
  int dirfd = I32(info, 1);
  const char* path = PathOf(info, 2);
  int flags = I32(info, 3);
  unsigned mask = U32(info, 4);
  auto* out = reinterpret_cast<struct statx*>(RangeOf(info, 5, 0, sizeof(struct statx)));
  return Queue(info.Env(), slot, [&](io_uring_sqe* sqe) { io_uring_prep_statx(sqe, dirfd, path, flags, mask, out); });
}

// renameat2(slot, olddirfd, oldpath, newdirfd, newpath, flags)
Napi::Value Ring::Renameat2(const Napi::CallbackInfo& info) {
  uint32_t slot = U32(info, 0);
  int from_dir = I32(info, 1);
  const char* from = PathOf(info, 2);
  int to_dir = I32(info, 3);
  const char* to = PathOf(info, 4);
  unsigned flags = U32(info, 5);
  return Queue(info.Env(), slot,
               [&](io_uring_sqe* sqe) { io_uring_prep_renameat(sqe, from_dir, from, to_dir, to, flags); });
}

// unlinkat(slot, dirfd, path, flags)
Napi::Value Ring::Unlinkat(const Napi::CallbackInfo& info) {
  uint32_t slot = U32(info, 0);
  int dirfd = I32(info, 1);
  const char* path = PathOf(info, 2);
  int flags = I32(info, 3);
  return Queue(info.Env(), slot, [&](io_uring_sqe* sqe) { io_uring_prep_unlinkat(sqe, dirfd, path, flags); });
}

// mkdirat(slot, dirfd, path, mode)
Napi::Value Ring::Mkdirat(const Napi::CallbackInfo& info) {
  uint32_t slot = U32(info, 0);
  int dirfd = I32(info, 1);
  const char* path = PathOf(info, 2);
  mode_t mode = U32(info, 3);
  return Queue(info.Env(), slot, [&](io_uring_sqe* sqe) { io_uring_prep_mkdirat(sqe, dirfd, path, mode); });
}

// symlinkat(slot, target, newdirfd, linkpath)
Napi::Value Ring::Symlinkat(const Napi::CallbackInfo& info) {
  uint32_t slot = U32(info, 0);
  const char* target = PathOf(info, 1);
  int dirfd = I32(info, 2);
  const char* link = PathOf(info, 3);
  return Queue(info.Env(), slot, [&](io_uring_sqe* sqe) { io_uring_prep_symlinkat(sqe, target, dirfd, link); });
}

// linkat(slot, olddirfd, oldpath, newdirfd, newpath, flags)
Napi::Value Ring::Linkat(const Napi::CallbackInfo& info) {
  uint32_t slot = U32(info, 0);
  int from_dir = I32(info, 1);
  const char* from = PathOf(info, 2);
  int to_dir = I32(info, 3);
  const char* to = PathOf(info, 4);
  int flags = I32(info, 5);
  return Queue(info.Env(), slot,
               [&](io_uring_sqe* sqe) { io_uring_prep_linkat(sqe, from_dir, from, to_dir, to, flags); });
}

// fallocate(slot, fd, mode, offset, length)
Napi::Value Ring::Fallocate(const Napi::CallbackInfo& info) {
  uint32_t slot = U32(info, 0);
  int fd = I32(info, 1);
  int mode = I32(info, 2);
  auto offset = static_cast<uint64_t>(I64(info, 3));
  auto length = static_cast<uint64_t>(I64(info, 4));
  return Queue(info.Env(), slot, [&](io_uring_sqe* sqe) { io_uring_prep_fallocate(sqe, fd, mode, offset, length); });
}

// ftruncate(slot, fd, length): only when supports(55); the engine falls back to the thread pool otherwise.
Napi::Value Ring::Ftruncate(const Napi::CallbackInfo& info) {
  uint32_t slot = U32(info, 0);
  int fd = I32(info, 1);
  auto length = static_cast<uint64_t>(I64(info, 2));
  return Queue(info.Env(), slot,
               [&](io_uring_sqe* sqe) { io_uring_prep_rw(kOpFtruncate, sqe, fd, nullptr, 0, length); });
}

// submit(): one io_uring_enter for everything prepared since the last one. Returns how many went in.
Napi::Value Ring::Submit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (queued_ == 0) return Napi::Number::New(env, 0);
  int rc = io_uring_submit(&ring_);
  if (rc == -EAGAIN || rc == -EBUSY) return Napi::Number::New(env, 0);  // retried after the next reap
  if (rc < 0) throw ErrnoError(env, -rc, "io_uring_submit");
  queued_ -= static_cast<uint32_t>(rc);
  in_kernel_ += static_cast<uint32_t>(rc);
  submits_++;
  submitted_ += static_cast<uint64_t>(rc);
  return Napi::Number::New(env, rc);
}

Napi::Value Ring::Supports(const Napi::CallbackInfo& info) {
  uint32_t op = U32(info, 0);
  return Napi::Boolean::New(info.Env(), probe_ != nullptr && io_uring_opcode_supported(probe_, static_cast<int>(op)));
}

Napi::Value Ring::Counters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object counters = Napi::Object::New(env);
  counters.Set("queued", queued_);
  counters.Set("inKernel", in_kernel_);
  counters.Set("submits", static_cast<double>(submits_));
  counters.Set("submitted", static_cast<double>(submitted_));
  counters.Set("completed", static_cast<double>(completed_));
  return counters;
}

// destroy(): tear the ring down now. The engine calls it only once nothing is queued or in the kernel.
Napi::Value Ring::Destroy(const Napi::CallbackInfo& info) {
  if (queued_ + in_kernel_ > 0) throw ErrnoError(info.Env(), EBUSY, "ring has requests in flight");
  Teardown();
  return info.Env().Undefined();
}

uint32_t Ring::Reap() {
  unsigned head;
  io_uring_cqe* cqe;
  uint32_t count = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    if (count == results_pairs_) break;
    results_[2 * count] = static_cast<double>(cqe->user_data);
    results_[2 * count + 1] = static_cast<double>(cqe->res);
    count++;
  }
  io_uring_cq_advance(&ring_, count);
  in_kernel_ -= count;
  completed_ += count;
  return count;
}

void Ring::OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  auto* ring = static_cast<Ring*>(handle->data);
  if (ring == nullptr || !ring->ring_ready_ || status < 0) return;
  uint32_t count = ring->Reap();
  Napi::Env env = ring->Env();
  if (count > 0) {
    Napi::HandleScope scope(env);
    try {
      ring->on_complete_.MakeCallback(env.Global(), {Napi::Number::New(env, count)});
    } catch (const Napi::Error& error) {
      napi_fatal_exception(env, error.Value());
    }
  }
  if (ring->ring_ready_) ring->UpdateLiveness();
}

}  // namespace persistfs
