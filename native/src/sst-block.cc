// A point read's search of one LSM data block (src/lsm/block.ts), over the block's bytes as read and
// checksummed: no per-entry offsets, no key strings. A block is entries back to back, each
// `key length u32 LE | value length u32 LE | seq u64 LE | kind u8 | key | value`, then the entry count
// u32 LE; keys ascend bytewise, the versions of a key are adjacent, newest first.
//
// sstBlockFind(block, key, version) -> the offset of the entry of `key` (a latin1 string: one char a
// byte) visible at `version` (the newest with seq <= version), -1 when there is none, -2 when the block is
// malformed. The whole block is walked every time, so a malformed one is never half read: JavaScript
// decodes it to say what is wrong.
#include <napi.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "args.h"

namespace persistfs {

namespace {

constexpr uint64_t kEntryHeader = 17;

uint32_t LoadU32(const uint8_t* at) {
  return static_cast<uint32_t>(at[0]) | static_cast<uint32_t>(at[1]) << 8 | static_cast<uint32_t>(at[2]) << 16 |
         static_cast<uint32_t>(at[3]) << 24;
}

uint64_t LoadU64(const uint8_t* at) { return LoadU32(at) | static_cast<uint64_t>(LoadU32(at + 4)) << 32; }

int Compare(const uint8_t* a, size_t a_length, const uint8_t* b, size_t b_length) {
  size_t common = a_length < b_length ? a_length : b_length;
  int order = common == 0 ? 0 : std::memcmp(a, b, common);
  if (order != 0) return order;
  return a_length < b_length ? -1 : a_length > b_length ? 1 : 0;
}

// The entry of `key` visible at `version` in data[0, length): its offset, -1, or -2 (malformed).
double Find(const uint8_t* data, uint64_t length, const uint8_t* key, size_t key_length, double version) {
  if (length < 4) return -2;
  uint64_t end = length - 4;
  uint64_t count = LoadU32(data + end);
  if (count * kEntryHeader > end) return -2;
  double found = -1;
  bool decided = false;
  uint64_t at = 0;
  for (uint64_t i = 0; i < count; i++) {
    if (at + kEntryHeader > end) return -2;
    uint64_t entry_key = LoadU32(data + at);
    uint64_t next = at + kEntryHeader + entry_key + LoadU32(data + at + 4);
    if (next > end) return -2;
    if (!decided) {
      int order = Compare(data + at + kEntryHeader, entry_key, key, key_length);
      if (order > 0) {
        decided = true;
      } else if (order == 0 && static_cast<double>(LoadU64(data + at + 8)) <= version) {
        found = static_cast<double>(at);
        decided = true;
      }
    }
    at = next;
  }
  return at == end ? found : -2;
}

Napi::Value SstBlockFind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes block = BytesOf(info[0]);
  if (!info[1].IsString()) throw Napi::TypeError::New(env, "expected a key string");
  double version = info[2].As<Napi::Number>().DoubleValue();
  // a key is a latin1 string, one char a byte: copied out whole (the NUL napi adds needs one byte more)
  char stack[256];
  size_t key_length = 0;
  napi_status status = napi_get_value_string_latin1(env, info[1], nullptr, 0, &key_length);
  if (status != napi_ok) throw Napi::Error::New(env, "cannot read the key");
  std::string heap;
  char* key = stack;
  if (key_length >= sizeof(stack)) {
    heap.resize(key_length + 1);
    key = heap.data();
  }
  status = napi_get_value_string_latin1(env, info[1], key, key_length + 1, &key_length);
  if (status != napi_ok) throw Napi::Error::New(env, "cannot read the key");
  return Napi::Number::New(env,
                           Find(block.data, block.length, reinterpret_cast<const uint8_t*>(key), key_length, version));
}

}  // namespace

void DefineSstBlock(Napi::Env env, Napi::Object exports) {
  exports.Set("sstBlockFind", Napi::Function::New(env, SstBlockFind));
}

}  // namespace persistfs
