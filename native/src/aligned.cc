// Buffers whose memory is not V8's: aligned ones for O_DIRECT (the kernel needs the memory address
// aligned, which a Node Buffer is not), and files mapped read-only.
#include <napi.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

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

// mapFile(fd, length) -> a Buffer over the first `length` bytes of file `fd`, mapped read-only and shared
// (the page cache's own pages), or -errno. Unmapped when the Buffer and every view of it are collected.
static Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = I32(info, 0);
  int64_t length = I64(info, 1);
  if (length <= 0) throw Napi::RangeError::New(env, "mapFile: the length must be positive");
  auto size = static_cast<size_t>(length);
  void* at = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (at == MAP_FAILED) return Napi::Number::New(env, -errno);
  return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(at), size,
                                    [size](Napi::Env, uint8_t* data) { munmap(data, size); });
}

// unmapFile(mapped) -> 0 or -errno: the file mapFile mapped is let go at once (a deleted file's space is
// freed), its range mapped again to zeros, so that a view still held reads zeros, never freed memory
static Napi::Value UnmapFile(const Napi::CallbackInfo& info) {
  Bytes bytes = BytesOf(info[0]);
  void* at = mmap(bytes.data, bytes.length, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  return Napi::Number::New(info.Env(), at == MAP_FAILED ? -errno : 0);
}

// resident(mapped) -> whether every page of a mapping is in memory now (mincore): reading it waits for no disk
static Napi::Value Resident(const Napi::CallbackInfo& info) {
  Bytes bytes = BytesOf(info[0]);
  long page = sysconf(_SC_PAGESIZE);
  auto start = reinterpret_cast<uintptr_t>(bytes.data);
  if (bytes.length == 0 || start % static_cast<uintptr_t>(page) != 0) return Napi::Boolean::New(info.Env(), false);
  std::vector<unsigned char> pages((bytes.length + page - 1) / page);
  if (mincore(bytes.data, bytes.length, pages.data()) != 0) return Napi::Boolean::New(info.Env(), false);
  for (unsigned char state : pages) {
    if ((state & 1) == 0) return Napi::Boolean::New(info.Env(), false);
  }
  return Napi::Boolean::New(info.Env(), true);
}

void DefineAligned(Napi::Env env, Napi::Object exports) {
  exports.Set("alignedBuffer", Napi::Function::New(env, AlignedBuffer));
  exports.Set("mapFile", Napi::Function::New(env, MapFile));
  exports.Set("unmapFile", Napi::Function::New(env, UnmapFile));
  exports.Set("resident", Napi::Function::New(env, Resident));
  exports.Set("addressAlignment", Napi::Function::New(env, AddressAlignment));
}

}  // namespace persistfs
