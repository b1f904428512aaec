// Argument readers shared by the ring and the blocking calls. JavaScript validates what users pass; these
// only guard the native side against a wrong call from our own TypeScript (a bug, reported as TypeError).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace persistfs {

inline int32_t I32(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int32Value(); }

inline uint32_t U32(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Uint32Value(); }

// File offsets and lengths arrive as doubles: exact up to 2^53, which is more than any file here.
inline int64_t I64(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int64Value(); }

struct Bytes {
  uint8_t* data;
  size_t length;
};

inline Bytes BytesOf(const Napi::Value& value) {
  if (!value.IsTypedArray()) throw Napi::TypeError::New(value.Env(), "expected a Uint8Array");
  auto array = value.As<Napi::Uint8Array>();
  return Bytes{array.Data(), array.ByteLength()};
}

// A sub-range of a Uint8Array argument, bounds-checked.
inline uint8_t* RangeOf(const Napi::CallbackInfo& info, size_t i, int64_t offset, int64_t length) {
  Bytes bytes = BytesOf(info[i]);
  if (offset < 0 || length < 0 || static_cast<uint64_t>(offset + length) > bytes.length) {
    throw Napi::RangeError::New(info.Env(), "buffer range out of bounds");
  }
  return bytes.data + offset;
}

// Paths come from JavaScript as NUL-terminated Uint8Arrays, kept referenced there until completion.
inline const char* PathOf(const Napi::CallbackInfo& info, size_t i) {
  Bytes bytes = BytesOf(info[i]);
  if (bytes.length == 0 || bytes.data[bytes.length - 1] != 0) {
    throw Napi::TypeError::New(info.Env(), "path must be NUL-terminated");
  }
  return reinterpret_cast<const char*>(bytes.data);
}

inline std::string PathCopy(const Napi::CallbackInfo& info, size_t i) { return std::string(PathOf(info, i)); }

}  // namespace persistfs
