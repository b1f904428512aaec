// CRC32C (Castagnoli) of the WAL's records, a batch in one call: the per-record calls from JavaScript
// (one N-API call and one subarray each) cost more than the checksums themselves.
//
// crc32cRecords(buffer, start, end, seed): the records staged back to back in buffer[start, end), each
// `CRC32C u32 LE | length u32 LE | type u8 | payload` (src/wal/format.ts), get their checksum: CRC32C of
// the bytes after the CRC field (length, type, payload), the register started from `seed` as
// @node-rs/crc32's crc32c(bytes, seed) does. Returns how many records it sealed; a length that runs past
// `end` is a bug in the caller (RangeError), and nothing after it is sealed.
#include <isa-l/crc.h>
#include <napi.h>

#include <climits>
#include <cstddef>
#include <cstdint>

#include "args.h"

namespace persistfs {

namespace {

// CRC32C from `seed` as @node-rs/crc32 counts it (the register inverted on the way in and out), by Intel's
// ISA-L: crc32_iscsi picks the CPU's fastest code when the library loads, crc32_iscsi_base is its portable
// table version. ISA-L takes an int length, so a long buffer goes in pieces.
uint32_t Crc32c(uint32_t seed, const uint8_t* data, size_t length, bool portable = false) {
  auto* bytes = const_cast<unsigned char*>(data);
  uint32_t crc = ~seed;
  while (length > 0) {
    int piece = length > INT_MAX ? INT_MAX : static_cast<int>(length);
    crc = portable ? crc32_iscsi_base(bytes, piece, crc) : crc32_iscsi(bytes, piece, crc);
    bytes += piece;
    length -= static_cast<size_t>(piece);
  }
  return ~crc;
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
// one unless `portable` (ISA-L's table version; tests check both against the JavaScript library)
Napi::Value Crc32cOf(const Napi::CallbackInfo& info) {
  Bytes bytes = BytesOf(info[0]);
  uint32_t seed = U32(info, 1);
  return Napi::Number::New(info.Env(), Crc32c(seed, bytes.data, bytes.length, info[2].ToBoolean()));
}

}  // namespace

void DefineCrc32c(Napi::Env env, Napi::Object exports) {
  exports.Set("crc32cRecords", Napi::Function::New(env, Crc32cRecords));
  exports.Set("crc32c", Napi::Function::New(env, Crc32cOf));
}

}  // namespace persistfs
