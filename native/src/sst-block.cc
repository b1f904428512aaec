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

#include "args.h"
#include "key-bytes.h"

namespace persistfs {

namespace {

constexpr uint64_t kEntryHeader = 17;

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
      int order = CompareBytes(data + at + kEntryHeader, entry_key, key, key_length);
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
  double version = info[2].As<Napi::Number>().DoubleValue();
  KeyArg key(env, info[1]);
  return Napi::Number::New(env, Find(block.data, block.length, key.data(), key.length(), version));
}

}  // namespace

void DefineSstBlock(Napi::Env env, Napi::Object exports) {
  exports.Set("sstBlockFind", Napi::Function::New(env, SstBlockFind));
}

}  // namespace persistfs
