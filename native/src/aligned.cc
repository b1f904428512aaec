// Aligned buffers for O_DIRECT: the kernel needs the memory address aligned, which a Node Buffer is not.
#include <napi.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "args.h"

namespace persistfs {

// alignedBuffer(size, alignment) -> zero-filled Buffer whose memory starts on `alignment`
static Napi::Value AlignedBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t size = I64(info, 0);
  uint32_t alignment = U32(info, 1);
  if (size < 0 || alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment % sizeof(void*) != 0) {
    throw Napi::RangeError::New(env, "alignment must be a power of two multiple of the pointer size");
  }
  void* memory = nullptr;
  if (posix_memalign(&memory, alignment, size == 0 ? alignment : static_cast<size_t>(size)) != 0) {
    throw Napi::Error::New(env, "out of memory for an aligned buffer");
  }
  memset(memory, 0, static_cast<size_t>(size));
  return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(memory), static_cast<size_t>(size),
                                    [](Napi::Env, uint8_t* data) { free(data); });
}

// addressAlignment(buffer) -> the largest power of two (up to 4096) dividing the buffer's address
static Napi::Value AddressAlignment(const Napi::CallbackInfo& info) {
  Bytes bytes = BytesOf(info[0]);
  auto address = reinterpret_cast<uintptr_t>(bytes.data);
  uint32_t alignment = 1;
  while (alignment < 4096 && (address & (alignment * 2 - 1)) == 0) alignment *= 2;
  return Napi::Number::New(info.Env(), alignment);
}

void DefineAligned(Napi::Env env, Napi::Object exports) {
  exports.Set("alignedBuffer", Napi::Function::New(env, AlignedBuffer));
  exports.Set("addressAlignment", Napi::Function::New(env, AddressAlignment));
}

}  // namespace persistfs
