// System calls that io_uring cannot do here (or that the sync IO mode does without a ring), run on the
// libuv thread pool so the event loop never blocks. Each returns a Promise of the result or of -errno.
#pragma once

#include <napi.h>

namespace persistfs {

void DefineBlocking(Napi::Env env, Napi::Object exports);

}  // namespace persistfs
