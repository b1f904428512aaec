// The persistfs native addon: the io_uring ring, thread-pool system calls, aligned buffers, the WAL's batch
// CRC32C, the FUSE session.
#include <napi.h>

#include "blocking.h"
#include "fuse/session.h"
#include "ring.h"

namespace persistfs {
void DefineAligned(Napi::Env env, Napi::Object exports);
void DefineCrc32c(Napi::Env env, Napi::Object exports);
}  // namespace persistfs

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Ring", persistfs::Ring::Define(env));
  persistfs::DefineBlocking(env, exports);
  persistfs::DefineAligned(env, exports);
  persistfs::DefineCrc32c(env, exports);
  exports.Set("FuseSession", persistfs::fuse::FuseSession::Define(env));
  return exports;
}

NODE_API_MODULE(persistfs_native, Init)
