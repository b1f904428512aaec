// CRC32C (Castagnoli) of the WAL's records, a batch in one call: the per-record calls from JavaScript
// (one N-API call and one subarray each) cost more than the checksums themselves.
//
// crc32cRecords(buffer, start, end, seed): the records staged back to back in buffer[start, end), each
// `CRC32C u32 LE | length u32 LE | type u8 | payload` (src/wal/format.ts), get their checksum: CRC32C of
// the bytes after the CRC field (length, type, payload), the register started from `seed` as
// @node-rs/crc32's crc32c(bytes, seed) does. Returns how many records it sealed; a length that runs past
// `end` is a bug in the caller (RangeError), and nothing after it is sealed.
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "args.h"

namespace persistfs {

namespace {

uint32_t table[8][256];

void BuildTable() {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t crc = i;
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    table[0][i] = crc;
  }
  for (uint32_t i = 0; i < 256; i++) {
    for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
  }
}

// slicing-by-8 where the CPU has no CRC32 instruction; `crc` is the register (already inverted)
uint32_t Software(uint32_t crc, const uint8_t* data, size_t length) {
  while (length >= 8) {
    uint64_t word;
    memcpy(&word, data, 8);
    word ^= crc;
    crc = table[7][word & 0xff] ^ table[6][(word >> 8) & 0xff] ^ table[5][(word >> 16) & 0xff] ^
          table[4][(word >> 24) & 0xff] ^ table[3][(word >> 32) & 0xff] ^ table[2][(word >> 40) & 0xff] ^
          table[1][(word >> 48) & 0xff] ^ table[0][word >> 56];
    data += 8;
    length -= 8;
  }
  while (length-- > 0) crc = (crc >> 8) ^ table[0][(crc ^ *data++) & 0xff];
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t Hardware(uint32_t crc, const uint8_t* data, size_t length) {
  uint64_t wide = crc;
  while (length >= 8) {
    uint64_t word;
    memcpy(&word, data, 8);
    wide = __builtin_ia32_crc32di(wide, word);
    data += 8;
    length -= 8;
  }
  crc = static_cast<uint32_t>(wide);
  while (length-- > 0) crc = __builtin_ia32_crc32qi(crc, *data++);
  return crc;
}
#endif

// whether the CPU has SSE 4.2's CRC32 instruction (set once, when the addon loads)
bool hardware = false;

uint32_t Crc32c(uint32_t seed, const uint8_t* data, size_t length) {
#if defined(__x86_64__)
  if (hardware) return ~Hardware(~seed, data, length);
#endif
  return ~Software(~seed, data, length);
}

uint32_t ReadU32(const uint8_t* at) {
  return static_cast<uint32_t>(at[0]) | static_cast<uint32_t>(at[1]) << 8 | static_cast<uint32_t>(at[2]) << 16 |
         static_cast<uint32_t>(at[3]) << 24;
}

void WriteU32(uint8_t* at, uint32_t value) {
  at[0] = static_cast<uint8_t>(value);
  at[1] = static_cast<uint8_t>(value >> 8);
  at[2] = static_cast<uint8_t>(value >> 16);
  at[3] = static_cast<uint8_t>(value >> 24);
}

constexpr size_t kRecordHeader = 9;

// crc32cRecords(buffer, start, end, seed) -> records sealed
Napi::Value Crc32cRecords(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t start = I64(info, 1);
  int64_t end = I64(info, 2);
  uint8_t* data = RangeOf(info, 0, start, end - start);
  uint32_t seed = U32(info, 3);
  size_t length = static_cast<size_t>(end - start);
  size_t at = 0;
  uint32_t records = 0;
  while (at < length) {
    if (length - at < kRecordHeader) throw Napi::RangeError::New(env, "a record header runs past the end of the range");
    size_t payload = ReadU32(data + at + 4);
    if (payload > length - at - kRecordHeader)
      throw Napi::RangeError::New(env, "a record runs past the end of the range");
    WriteU32(data + at, Crc32c(seed, data + at + 4, kRecordHeader - 4 + payload));
    at += kRecordHeader + payload;
    records++;
  }
  return Napi::Number::New(env, records);
}

// crc32c(buffer, seed, portable) -> the CRC32C of the whole buffer, by the CPU's instruction where it has
// one unless `portable` (for tests of both ways against the JavaScript library)
Napi::Value Crc32cOf(const Napi::CallbackInfo& info) {
  Bytes bytes = BytesOf(info[0]);
  uint32_t seed = U32(info, 1);
  uint32_t crc =
      info[2].ToBoolean() ? ~Software(~seed, bytes.data, bytes.length) : Crc32c(seed, bytes.data, bytes.length);
  return Napi::Number::New(info.Env(), crc);
}

}  // namespace

void DefineCrc32c(Napi::Env env, Napi::Object exports) {
  BuildTable();
#if defined(__x86_64__)
  __builtin_cpu_init();
  hardware = __builtin_cpu_supports("sse4.2");
#endif
  exports.Set("crc32cRecords", Napi::Function::New(env, Crc32cRecords));
  exports.Set("crc32c", Napi::Function::New(env, Crc32cOf));
}

}  // namespace persistfs
