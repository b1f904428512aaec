// Little-endian loads, bytewise key order and latin1 key arguments, shared by the LSM's native parts
// (sst-block.cc, memtable.cc). A key crosses from JavaScript as a latin1 string: one char a byte.
#pragma once

#include <napi.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace persistfs {

inline uint32_t LoadU32(const uint8_t* at) {
  return static_cast<uint32_t>(at[0]) | static_cast<uint32_t>(at[1]) << 8 | static_cast<uint32_t>(at[2]) << 16 |
         static_cast<uint32_t>(at[3]) << 24;
}

inline uint64_t LoadU64(const uint8_t* at) { return LoadU32(at) | static_cast<uint64_t>(LoadU32(at + 4)) << 32; }

inline int CompareBytes(const uint8_t* a, size_t a_length, const uint8_t* b, size_t b_length) {
  size_t common = a_length < b_length ? a_length : b_length;
  int order = common == 0 ? 0 : std::memcmp(a, b, common);
  if (order != 0) return order;
  return a_length < b_length ? -1 : a_length > b_length ? 1 : 0;
}

// The bytes of a latin1 key string argument, copied out whole (on the stack when short).
class KeyArg {
 public:
  KeyArg(Napi::Env env, const Napi::Value& value) {
    if (!value.IsString()) throw Napi::TypeError::New(env, "expected a key string");
    // the NUL napi adds needs one byte more
    napi_status status = napi_get_value_string_latin1(env, value, nullptr, 0, &length_);
    if (status != napi_ok) throw Napi::Error::New(env, "cannot read the key");
    if (length_ >= sizeof(stack_)) {
      heap_.resize(length_ + 1);
      data_ = heap_.data();
    }
    status = napi_get_value_string_latin1(env, value, data_, length_ + 1, &length_);
    if (status != napi_ok) throw Napi::Error::New(env, "cannot read the key");
  }
  KeyArg(const KeyArg&) = delete;
  KeyArg& operator=(const KeyArg&) = delete;

  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(data_); }
  size_t length() const { return length_; }

 private:
  char stack_[256];
  std::string heap_;
  char* data_ = stack_;
  size_t length_ = 0;
};

}  // namespace persistfs
