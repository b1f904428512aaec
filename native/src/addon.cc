// The persistfs native addon: the io_uring ring, thread-pool system calls, aligned buffers, the WAL's batch
// CRC32C, the LSM's block search and memtable, the FUSE session.
#include <napi.h>
#include <time.h>

#include "blocking.h"
#include "fuse/session.h"
#include "ring.h"

namespace persistfs {
void DefineAligned(Napi::Env env, Napi::Object exports);
void DefineCrc32c(Napi::Env env, Napi::Object exports);
void DefineSstBlock(Napi::Env env, Napi::Object exports);
void DefineMemtable(Napi::Env env, Napi::Object exports);
}  // namespace persistfs

// The clock the kernel stamps file times with (current_time(): the coarse wall clock), in ns since the epoch.
static Napi::Value FileTimeNow(const Napi::CallbackInfo& info) {
  timespec now;
  clock_gettime(CLOCK_REALTIME_COARSE, &now);
  return Napi::BigInt::New(info.Env(), static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Ring", persistfs::Ring::Define(env));
  persistfs::DefineBlocking(env, exports);
  persistfs::DefineAligned(env, exports);
  persistfs::DefineCrc32c(env, exports);
  persistfs::DefineSstBlock(env, exports);
  persistfs::DefineMemtable(env, exports);
  exports.Set("fileTimeNow", Napi::Function::New(env, FileTimeNow));
  exports.Set("FuseSession", persistfs::fuse::FuseSession::Define(env));
  return exports;
}

NODE_API_MODULE(persistfs_native, Init)
