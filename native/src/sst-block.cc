// A point read's search of one LSM data block (src/lsm/block.ts), over the block's bytes as read and
// checksummed: no per-entry offsets, no key strings. A block is entries back to back, then the entry
// count u32 LE; keys ascend bytewise, the versions of a key are adjacent, newest first. An entry is, in
// format 1, `key length u32 LE | value length u32 LE | seq u64 LE | kind u8 | key | value`; in format 2,
// `shared varint | unshared varint | value length varint | kind u8 | seq varint | key[shared:] | value`,
// its key the first `shared` bytes of the key before it and then its own (src/lsm/sst-format.ts).
//
// sstBlockFind(block, key, version, format) -> the offset of the entry of `key` (a latin1 string: one char
// a byte) visible at `version` (the newest with seq <= version), -1 when there is none, -2 when the block
// is malformed. The whole block is walked every time, so a malformed one is never half read: JavaScript
// decodes it to say what is wrong.
#include <napi.h>

#include <cstdint>
#include <cstring>

#include "args.h"
#include "key-bytes.h"

namespace persistfs {

namespace {

constexpr uint64_t kEntryHeader = 17;
constexpr uint64_t kEntryHeaderMin = 5;

// The entries' end and count of a block of `length` bytes; false when the count cannot fit.
bool BlockShape(uint64_t length, const uint8_t* data, uint64_t min_entry, uint64_t* end, uint64_t* count) {
  if (length < 4) return false;
  *end = length - 4;
  *count = LoadU32(data + *end);
  return *count * min_entry <= *end;
}

// The entry of `key` visible at `version` in data[0, length): its offset, -1, or -2 (malformed).
double Find(const uint8_t* data, uint64_t length, const uint8_t* key, size_t key_length, double version) {
  uint64_t end = 0;
  uint64_t count = 0;
  if (!BlockShape(length, data, kEntryHeader, &end, &count)) return -2;
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

// Reads the varint at data[*at, end) (at most 8 bytes, as src/lsm/sst-format.ts) into *value.
inline bool ReadVarint(const uint8_t* data, uint64_t end, uint64_t* at, uint64_t* value) {
  // most are one byte (lengths below 128, the shared count)
  if (*at < end && data[*at] < 0x80) {
    *value = data[(*at)++];
    return true;
  }
  uint64_t result = 0;
  for (int shift = 0; shift < 56 && *at < end; shift += 7) {
    uint8_t byte = data[(*at)++];
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (byte < 0x80) {
      *value = result;
      return true;
    }
  }
  return false;
}

// A format-2 entry's header, as NextEntry read it.
struct Entry {
  uint64_t start = 0;
  uint64_t shared = 0;
  uint64_t unshared = 0;
  uint64_t value_length = 0;
  uint64_t seq = 0;
  // where its own key bytes start
  uint64_t key = 0;
};

// Every kRestartInterval-th entry of a format-2 block, from its first, holds its whole key (shared 0): so
// a block's keys put together take at most kRestartInterval times its bytes.
constexpr uint64_t kRestartInterval = 16;

// Reads the format-2 entry `index` at *at of a block whose entries end at `end` into *entry and moves *at
// past it; false when it does not fit, shares more bytes than the key before it has (*previous_length), or
// shares any at a restart.
bool NextEntry(const uint8_t* data, uint64_t end, uint64_t index, uint64_t* at, uint64_t* previous_length,
               Entry* entry) {
  entry->start = *at;
  if (!ReadVarint(data, end, at, &entry->shared) || !ReadVarint(data, end, at, &entry->unshared) ||
      !ReadVarint(data, end, at, &entry->value_length) || *at >= end) {
    return false;
  }
  (*at)++;  // the kind
  if (!ReadVarint(data, end, at, &entry->seq) || entry->shared > *previous_length) return false;
  if (index % kRestartInterval == 0 && entry->shared != 0) return false;
  if (entry->unshared > end - *at || entry->value_length > end - *at - entry->unshared) return false;
  entry->key = *at;
  *previous_length = entry->shared + entry->unshared;
  *at += entry->unshared + entry->value_length;
  return true;
}

// Format 2 of Find, without putting keys together: `matched` is how many first bytes the key before had in
// common with `key` (it was below `key`). A key sharing more than that with the one before is below `key`
// too (it has the same first differing byte); one sharing at most that has its first `shared` bytes equal
// to key's, and only its own bytes are compared, from there.
double FindPrefixed(const uint8_t* data, uint64_t length, const uint8_t* key, size_t key_length, double version) {
  uint64_t end = 0;
  uint64_t count = 0;
  if (!BlockShape(length, data, kEntryHeaderMin, &end, &count)) return -2;
  uint64_t previous_length = 0;
  uint64_t matched = 0;
  double found = -1;
  bool decided = false;
  uint64_t at = 0;
  Entry entry;
  for (uint64_t i = 0; i < count; i++) {
    if (!NextEntry(data, end, i, &at, &previous_length, &entry)) return -2;
    if (decided || entry.shared > matched) continue;
    const uint8_t* own = data + entry.key;
    uint64_t rest = key_length - entry.shared;
    uint64_t common = 0;
    while (common < entry.unshared && common < rest && own[common] == key[entry.shared + common]) common++;
    matched = entry.shared + common;
    int order = 0;
    if (common < entry.unshared && common < rest) {
      order = own[common] < key[matched] ? -1 : 1;
    } else if (entry.unshared != rest) {
      order = entry.unshared < rest ? -1 : 1;
    }
    if (order > 0) {
      decided = true;
    } else if (order == 0 && static_cast<double>(entry.seq) <= version) {
      found = static_cast<double>(entry.start);
      decided = true;
    }
  }
  return at == end ? found : -2;
}

// sstBlockWalk(block, starts, keyEnds, keys) -> how many bytes the keys of a format-2 block take put
// together back to back in `keys`, with starts[i] = where entry i starts in the block and keyEnds[i] =
// where its key ends in `keys`; -1 when `keys` is too small, -2 when the block is malformed (JavaScript's
// own walk then says what is wrong). The caller's arrays hold at least `count` elements and are reused
// from call to call: napi reaching a new small typed array costs microseconds (V8 moves it off its heap).
Napi::Value SstBlockWalk(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes block = BytesOf(info[0]);
  auto starts = info[1].As<Napi::Uint32Array>();
  auto key_ends = info[2].As<Napi::Uint32Array>();
  Bytes keys = BytesOf(info[3]);
  uint64_t end = 0;
  uint64_t count = 0;
  if (!BlockShape(block.length, block.data, kEntryHeaderMin, &end, &count)) return Napi::Number::New(env, -2);
  if (starts.ElementLength() < count || key_ends.ElementLength() < count) {
    throw Napi::RangeError::New(env, "sstBlockWalk: the arrays hold fewer elements than the block's entries");
  }
  uint64_t previous_length = 0;
  uint64_t at = 0;
  uint64_t written = 0;
  Entry entry;
  for (uint64_t i = 0; i < count; i++) {
    uint64_t last_length = previous_length;
    if (!NextEntry(block.data, end, i, &at, &previous_length, &entry)) return Napi::Number::New(env, -2);
    if (entry.shared + entry.unshared > keys.length - written) return Napi::Number::New(env, -1);
    // the shared bytes are the first ones of the key before, the last written
    std::memcpy(keys.data + written, keys.data + written - last_length, entry.shared);
    std::memcpy(keys.data + written + entry.shared, block.data + entry.key, entry.unshared);
    written += entry.shared + entry.unshared;
    starts[i] = static_cast<uint32_t>(entry.start);
    key_ends[i] = static_cast<uint32_t>(written);
  }
  if (at != end) return Napi::Number::New(env, -2);
  return Napi::Number::New(env, static_cast<double>(written));
}

Napi::Value SstBlockFind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes block = BytesOf(info[0]);
  double version = info[2].As<Napi::Number>().DoubleValue();
  int32_t format = I32(info, 3);
  if (format != 1 && format != 2) throw Napi::RangeError::New(env, "sstBlockFind: format 1 or 2");
  KeyArg key(env, info[1]);
  auto find = format == 1 ? Find : FindPrefixed;
  return Napi::Number::New(env, find(block.data, block.length, key.data(), key.length(), version));
}

}  // namespace

void DefineSstBlock(Napi::Env env, Napi::Object exports) {
  exports.Set("sstBlockFind", Napi::Function::New(env, SstBlockFind));
  exports.Set("sstBlockWalk", Napi::Function::New(env, SstBlockWalk));
}

}  // namespace persistfs
