// The LSM's memtable (src/lsm/memtable.ts) outside the V8 heap: a skiplist, as LevelDB's, of entries
// (key, seq, value or tombstone) in an arena of mmap'd blocks, ordered by key bytewise ascending, then seq
// descending (a key's versions adjacent, newest first: the order of an SST). Nothing is overwritten or
// removed: the memory goes back to the system at once when the memtable is freed (free(), or its
// collection). One thread only (the JavaScript thread): no locks, no atomics.
//
// Entries are named to JavaScript by their index in insertion order (checked on every call, so a stale or
// wrong number is a RangeError, never a wild pointer). Calls that land on an entry also write into the
// Float64Array given at construction: [0] its seq, [1] its value length (-1: a tombstone), [2] its index.
//
//   new Memtable(results: Float64Array(3))
//   addBatch(record)        inserts the ops of a WAL write record (src/lsm/write-batch.ts); returns their
//                           count (results[0]: the first one's seq), or -1 when the record is malformed
//                           (then nothing is inserted)
//   find(key, version)      the index of the version of `key` visible at `version` (newest seq <= it), or -1
//   seek(target, exclusive, version, reverse)
//                           forward: the first key >= target (> when exclusive) with a version visible at
//                           `version`; reverse: the last key <= target (<); target undefined: from the
//                           first (last) key. Returns the key (a latin1 string), or undefined past the end
//   step(index, version, reverse)  the same from the key of entry `index`, exclusive
//   next(index)             the entry after `index` in order (every version; -1: the first), or -1;
//                           results[2] is 1 when its key differs from the previous entry's
//   keyAt(index)            the key of an entry
//   copyValue(index, out)   copies its value into `out` (RangeError when too small)
//   encodeBlock(from, out, offset, blockSize, restartInterval, hashes, report)
//                           the next data block of an SST of every entry, from the one after `from` (-1: the
//                           first): EncodeBlock below
//   bytes, keys             bytes used by entries (header, links, key, value), distinct keys
//   free()                  returns the memory; any later call is an Error with code EBADF
#include <napi.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "args.h"
#include "key-bytes.h"

namespace persistfs {

namespace {

constexpr int kMaxHeight = 12;
constexpr size_t kBlockSize = 256 * 1024;
constexpr uint32_t kTombstone = std::numeric_limits<uint32_t>::max();
constexpr uint8_t kKindDelete = 0;
constexpr uint8_t kKindPut = 1;
// the most bytes an entry's header takes in a data block (src/lsm/sst-format.ts ENTRY_HEADER_MAX)
constexpr size_t kEntryHeaderMax = 5 + 5 + 5 + 1 + 8;

struct Node {
  uint64_t seq;
  uint32_t key_length;
  uint32_t value_length;  // kTombstone for a delete
  uint32_t height;
  uint32_t index;  // in insertion order: how JavaScript names it
  Node* next[1];   // `height` links, then the key and the value

  const uint8_t* key() const { return reinterpret_cast<const uint8_t*>(next + height); }
  const uint8_t* value() const { return key() + key_length; }
  bool SameKey(const Node* other) const {
    return key_length == other->key_length && std::memcmp(key(), other->key(), key_length) == 0;
  }
  int CompareKey(const uint8_t* k, size_t k_length) const { return CompareBytes(key(), key_length, k, k_length); }
};

size_t NodeSize(uint32_t height, size_t key_length, size_t value_length) {
  size_t size = offsetof(Node, next) + height * sizeof(Node*) + key_length + value_length;
  return (size + 7) & ~static_cast<size_t>(7);
}

// Blocks of kBlockSize from mmap (a large entry gets a block of its own), unmapped all at once.
class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  ~Arena() { Release(); }

  // nullptr when the system has no memory left
  void* Allocate(size_t size) {
    if (size > kBlockSize / 4) return Map(size);
    if (size > left_) {
      cursor_ = static_cast<uint8_t*>(Map(kBlockSize));
      if (cursor_ == nullptr) {
        left_ = 0;
        return nullptr;
      }
      left_ = kBlockSize;
    }
    void* at = cursor_;
    cursor_ += size;
    left_ -= size;
    return at;
  }

  void Release() {
    for (const auto& block : blocks_) munmap(block.first, block.second);
    blocks_.clear();
    cursor_ = nullptr;
    left_ = 0;
  }

 private:
  void* Map(size_t size) {
    void* at = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (at == MAP_FAILED) return nullptr;
    blocks_.emplace_back(at, size);
    return at;
  }

  std::vector<std::pair<void*, size_t>> blocks_;
  uint8_t* cursor_ = nullptr;
  size_t left_ = 0;
};

uint64_t VersionOf(const Napi::Value& value) {
  double version = value.As<Napi::Number>().DoubleValue();
  if (!(version >= 0)) return 0;
  if (version >= 18446744073709551615.0) return std::numeric_limits<uint64_t>::max();
  return static_cast<uint64_t>(version);
}

class Memtable : public Napi::ObjectWrap<Memtable> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Memtable",
                       {
                           InstanceMethod("addBatch", &Memtable::AddBatch),
                           InstanceMethod("find", &Memtable::Find),
                           InstanceMethod("seek", &Memtable::Seek),
                           InstanceMethod("step", &Memtable::Step),
                           InstanceMethod("next", &Memtable::Next),
                           InstanceMethod("keyAt", &Memtable::KeyAt),
                           InstanceMethod("copyValue", &Memtable::CopyValue),
                           InstanceMethod("encodeBlock", &Memtable::EncodeBlock),
                           InstanceMethod("free", &Memtable::Free),
                           InstanceAccessor("bytes", &Memtable::Bytes, nullptr),
                           InstanceAccessor("keys", &Memtable::Keys, nullptr),
                       });
  }

  explicit Memtable(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Memtable>(info) {
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[0].As<Napi::Float64Array>().ElementLength() < 3) {
      throw Napi::TypeError::New(info.Env(), "expected a Float64Array of 3 for the results");
    }
    auto results = info[0].As<Napi::Float64Array>();
    results_ref_ = Napi::Persistent(results);
    results_ = results.Data();
    std::memset(&head_, 0, sizeof(head_));
    head_.node.height = kMaxHeight;
  }

 private:
  // the head: a node of kMaxHeight links and no key, before every entry
  union Head {
    Node node;
    uint8_t room[offsetof(Node, next) + kMaxHeight * sizeof(Node*)];
  };

  Node* head() { return &head_.node; }

  // The last node (the head when none) for which `before(node)` holds, `before` holding for a prefix of
  // the list; `prev` (if given) gets the last such node at each height.
  template <typename Before>
  Node* FindLast(Before before, Node** prev) {
    Node* x = head();
    for (int level = height_ - 1; level >= 0; level--) {
      for (Node* next = x->next[level]; next != nullptr && before(next); next = x->next[level]) x = next;
      if (prev != nullptr) prev[level] = x;
    }
    return x;
  }

  // The first node at or after (key, seq) in the list's order: key ascending, seq descending.
  Node* AtOrAfter(const uint8_t* key, size_t key_length, uint64_t seq, Node** prev = nullptr) {
    return FindLast(
               [&](const Node* n) {
                 int order = n->CompareKey(key, key_length);
                 return order < 0 || (order == 0 && n->seq > seq);
               },
               prev)
        ->next[0];
  }

  // The last node whose key is < key (<= when `inclusive`), or nullptr.
  Node* LastBefore(const uint8_t* key, size_t key_length, bool inclusive) {
    Node* x = FindLast(
        [&](const Node* n) {
          int order = n->CompareKey(key, key_length);
          return order < 0 || (inclusive && order == 0);
        },
        nullptr);
    return x == head() ? nullptr : x;
  }

  Node* Last() {
    Node* x = FindLast([](const Node*) { return true; }, nullptr);
    return x == head() ? nullptr : x;
  }

  static uint32_t Hash(const uint8_t* key, size_t length) {
    uint32_t h = 0x811c9dc5;  // FNV-1a, then murmur3's finalizer
    for (size_t i = 0; i < length; i++) h = (h ^ key[i]) * 0x01000193;
    h ^= h >> 16;
    h *= 0x85ebca6b;
    h ^= h >> 13;
    h *= 0xc2b2ae35;
    return h ^ (h >> 16);
  }

  // The slot of `key` in newest_: the one holding its newest entry, or the empty one where it would go.
  size_t Slot(const uint8_t* key, size_t length) const {
    size_t mask = newest_.size() - 1;
    size_t slot = Hash(key, length) & mask;
    while (newest_[slot] != nullptr && newest_[slot]->CompareKey(key, length) != 0) slot = (slot + 1) & mask;
    return slot;
  }

  void Index(Node* node) {
    if (newest_.empty()) newest_.assign(1024, nullptr);
    size_t slot = Slot(node->key(), node->key_length);
    if (newest_[slot] == nullptr) {
      newest_[slot] = node;
      if (++newest_used_ * 2 > newest_.size()) Regrow();
    } else if (node->seq > newest_[slot]->seq) {
      newest_[slot] = node;
    }
  }

  void Regrow() {
    std::vector<Node*> old(newest_.size() * 2, nullptr);
    old.swap(newest_);
    for (Node* node : old) {
      if (node != nullptr) newest_[Slot(node->key(), node->key_length)] = node;
    }
  }

  uint32_t RandomHeight() {
    uint32_t height = 1;
    while (height < kMaxHeight) {
      random_ ^= random_ << 13;
      random_ ^= random_ >> 17;
      random_ ^= random_ << 5;
      if ((random_ & 3) != 0) break;  // each level up with probability 1/4, as LevelDB
      height++;
    }
    return height;
  }

  bool Insert(const uint8_t* key, uint32_t key_length, uint64_t seq, const uint8_t* value, uint32_t value_length) {
    Node* prev[kMaxHeight];
    Node* next = AtOrAfter(key, key_length, seq, prev);
    bool new_key = !(next != nullptr && next->CompareKey(key, key_length) == 0) &&
                   !(prev[0] != head() && prev[0]->CompareKey(key, key_length) == 0);
    uint32_t height = RandomHeight();
    size_t stored = value_length == kTombstone ? 0 : value_length;
    size_t size = NodeSize(height, key_length, stored);
    auto* node = static_cast<Node*>(arena_.Allocate(size));
    if (node == nullptr) return false;
    node->seq = seq;
    node->key_length = key_length;
    node->value_length = value_length;
    node->height = height;
    node->index = static_cast<uint32_t>(nodes_.size());
    std::memcpy(const_cast<uint8_t*>(node->key()), key, key_length);
    if (stored > 0) std::memcpy(const_cast<uint8_t*>(node->value()), value, stored);
    for (int level = height_; level < static_cast<int>(height); level++) prev[level] = head();
    if (static_cast<int>(height) > height_) height_ = static_cast<int>(height);
    for (uint32_t level = 0; level < height; level++) {
      node->next[level] = prev[level]->next[level];
      prev[level]->next[level] = node;
    }
    nodes_.push_back(node);
    Index(node);
    bytes_ += size;
    if (new_key) keys_++;
    return true;
  }

  static Napi::Error CodedError(Napi::Env env, const char* code, const char* message) {
    Napi::Error error = Napi::Error::New(env, std::string(code) + ": " + message);
    error.Set("code", Napi::String::New(env, code));
    return error;
  }

  void CheckOpen(Napi::Env env) {
    if (freed_) throw CodedError(env, "EBADF", "the memtable was freed");
  }

  Node* NodeArg(const Napi::CallbackInfo& info, size_t i) {
    CheckOpen(info.Env());
    double index = info[i].As<Napi::Number>().DoubleValue();
    if (!(index >= 0 && index < static_cast<double>(nodes_.size())) ||
        index != static_cast<double>(static_cast<size_t>(index))) {
      throw Napi::RangeError::New(info.Env(), "no such memtable entry");
    }
    return nodes_[static_cast<size_t>(index)];
  }

  // Writes an entry's seq, value length and index into the results.
  void Report(const Node* node) {
    results_[0] = static_cast<double>(node->seq);
    results_[1] = node->value_length == kTombstone ? -1 : static_cast<double>(node->value_length);
    results_[2] = node->index;
  }

  // From node `n` (the first entry of its key, or any entry of it in reverse), the first key in the
  // direction with a version visible at `version`: that version, or nullptr.
  Node* Settle(Node* n, uint64_t version, bool reverse) {
    while (n != nullptr) {
      if (!reverse) {
        Node* first = n;
        while (n != nullptr && n->SameKey(first) && n->seq > version) n = n->next[0];
        if (n != nullptr && n->SameKey(first)) return n;
      } else {
        Node* visible = AtOrAfter(n->key(), n->key_length, version);
        if (visible != nullptr && visible->SameKey(n)) return visible;
        n = LastBefore(n->key(), n->key_length, false);
      }
    }
    return nullptr;
  }

  static Napi::Value KeyString(Napi::Env env, const Node* node) {
    napi_value key;
    napi_status status =
        napi_create_string_latin1(env, reinterpret_cast<const char*>(node->key()), node->key_length, &key);
    if (status != napi_ok) throw Napi::Error::New(env, "cannot make the key string");
    return Napi::Value(env, key);
  }

  Napi::Value AddBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    persistfs::Bytes record = BytesOf(info[0]);
    const uint8_t* data = record.data;
    size_t length = record.length;
    // checked whole before anything goes in: a malformed record inserts nothing
    if (length < 12) return Napi::Number::New(env, -1);
    uint32_t count = LoadU32(data);
    uint64_t first = LoadU64(data + 4);
    size_t at = 12;
    for (uint32_t i = 0; i < count; i++) {
      if (length - at < 9) return Napi::Number::New(env, -1);
      uint8_t kind = data[at];
      size_t key_length = LoadU32(data + at + 1);
      at += 5;
      if (kind > kKindPut || length - at < key_length + 4) return Napi::Number::New(env, -1);
      at += key_length;
      size_t value_length = LoadU32(data + at);
      at += 4;
      if (length - at < value_length || value_length == kTombstone) return Napi::Number::New(env, -1);
      at += value_length;
    }
    if (at != length) return Napi::Number::New(env, -1);
    results_[0] = static_cast<double>(first);
    at = 12;
    for (uint32_t i = 0; i < count; i++) {
      uint8_t kind = data[at];
      uint32_t key_length = LoadU32(data + at + 1);
      const uint8_t* key = data + at + 5;
      at += 5 + key_length;
      uint32_t value_length = LoadU32(data + at);
      at += 4;
      if (!Insert(key, key_length, first + i, data + at, kind == kKindDelete ? kTombstone : value_length)) {
        throw CodedError(env, "ENOMEM", "no memory for the memtable");
      }
      at += value_length;
    }
    return Napi::Number::New(env, count);
  }

  Napi::Value Find(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    KeyArg key(env, info[0]);
    uint64_t version = VersionOf(info[1]);
    if (newest_.empty()) return Napi::Number::New(env, -1);
    Node* first = newest_[Slot(key.data(), key.length())];
    Node* n = first;
    while (n != nullptr && n->seq > version && n->SameKey(first)) n = n->next[0];
    if (n == nullptr || !n->SameKey(first)) return Napi::Number::New(env, -1);
    Report(n);
    return Napi::Number::New(env, n->index);
  }

  Napi::Value Seek(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    bool exclusive = info[1].ToBoolean();
    uint64_t version = VersionOf(info[2]);
    bool reverse = info[3].ToBoolean();
    Node* n;
    if (info[0].IsUndefined()) {
      n = reverse ? Last() : head()->next[0];
    } else {
      KeyArg key(env, info[0]);
      if (!reverse) {
        n = LastBefore(key.data(), key.length(), exclusive);
        n = n == nullptr ? head()->next[0] : n->next[0];
      } else {
        n = LastBefore(key.data(), key.length(), !exclusive);
      }
    }
    return Land(env, Settle(n, version, reverse));
  }

  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Node* n = NodeArg(info, 0);
    uint64_t version = VersionOf(info[1]);
    bool reverse = info[2].ToBoolean();
    if (!reverse) {
      Node* from = n;
      while (n != nullptr && n->SameKey(from)) n = n->next[0];
    } else {
      n = LastBefore(n->key(), n->key_length, false);
    }
    return Land(env, Settle(n, version, reverse));
  }

  Napi::Value Land(Napi::Env env, Node* node) {
    if (node == nullptr) return env.Undefined();
    Report(node);
    return KeyString(env, node);
  }

  Napi::Value Next(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    Node* previous = info[0].As<Napi::Number>().DoubleValue() < 0 ? nullptr : NodeArg(info, 0);
    Node* n = previous == nullptr ? head()->next[0] : previous->next[0];
    if (n == nullptr) return Napi::Number::New(env, -1);
    Report(n);
    results_[2] = previous == nullptr || !n->SameKey(previous) ? 1 : 0;
    return Napi::Number::New(env, n->index);
  }

  Napi::Value KeyAt(const Napi::CallbackInfo& info) { return KeyString(info.Env(), NodeArg(info, 0)); }

  Napi::Value CopyValue(const Napi::CallbackInfo& info) {
    Node* n = NodeArg(info, 0);
    persistfs::Bytes out = BytesOf(info[1]);
    size_t length = n->value_length == kTombstone ? 0 : n->value_length;
    if (out.length < length) throw Napi::RangeError::New(info.Env(), "buffer too small for the value");
    if (length > 0) std::memcpy(out.data, n->value(), length);
    return Napi::Number::New(info.Env(), static_cast<double>(length));
  }

  static uint8_t* PutVarint(uint8_t* at, uint64_t value) {
    while (value >= 0x80) {
      *at++ = static_cast<uint8_t>(value | 0x80);
      value >>= 7;
    }
    *at++ = static_cast<uint8_t>(value);
    return at;
  }

  // encodeBlock(from, out, offset, blockSize, restartInterval, hashes: Uint32Array, report: Float64Array(7))
  // A memtable's flush without a call for each entry: encodes the entries from the one after entry `from` (-1: the
  // first) into out[offset, ...) as a format-2 data block, the bytes SstBuilder.add writes for them one by
  // one (src/lsm/sst-builder.ts, sst-format.ts encodeEntry; test/lsm/sst-builder.test.ts compares the two),
  // up to where add() would cut the block: at a key's change once it holds blockSize bytes, or the list's
  // end. The hash of each key (src/lsm/bytes.ts hashKey, Hash here) goes to hashes[0, ...); the block's
  // first entry always has a key of its own (a block is cut only between keys).
  // report: [0] entries, [1] bytes (the block's count not written), [2] its first entry, [3] its last (the
  // next call's `from`), [4] keys (hashes written), [5] the smallest seq, then [6] the largest.
  // Returns 1; 0 when nothing is left; -1 when out (report[0] = 1) or hashes (2) has no room: nothing is
  // kept, call again with more.
  Napi::Value EncodeBlock(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    Node* n = info[0].As<Napi::Number>().DoubleValue() < 0 ? head()->next[0] : NodeArg(info, 0)->next[0];
    persistfs::Bytes out = BytesOf(info[1]);
    int64_t offset = I64(info, 2);
    int64_t block_size = I64(info, 3);
    int64_t restart = I64(info, 4);
    if (!info[5].IsTypedArray() || info[5].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
      throw Napi::TypeError::New(env, "hashes must be a Uint32Array");
    auto hashes = info[5].As<Napi::Uint32Array>();
    if (!info[6].IsTypedArray() || info[6].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[6].As<Napi::Float64Array>().ElementLength() < 7)
      throw Napi::TypeError::New(env, "report must be a Float64Array of 7");
    double* report = info[6].As<Napi::Float64Array>().Data();
    if (offset < 0 || static_cast<size_t>(offset) > out.length || block_size < 1 || restart < 1)
      throw Napi::RangeError::New(env, "bad offset, block size or restart interval");
    if (n == nullptr) return Napi::Number::New(env, 0);
    uint8_t* const start = out.data + offset;
    uint8_t* const end = out.data + out.length;
    uint8_t* at = start;
    size_t count = 0;
    size_t keys = 0;
    const Node* first = n;
    const Node* last = nullptr;
    uint64_t min_seq = n->seq;
    uint64_t max_seq = n->seq;
    for (; n != nullptr; n = n->next[0]) {
      bool same_key = last != nullptr && n->SameKey(last);
      if (!same_key && count > 0 && at - start >= block_size) break;
      size_t value_length = n->value_length == kTombstone ? 0 : n->value_length;
      // as SstBuilder.reserve: the most a header takes, the key, the value, the block's count
      if (static_cast<size_t>(end - at) < kEntryHeaderMax + n->key_length + value_length + 4) {
        report[0] = 1;
        return Napi::Number::New(env, -1);
      }
      if (!same_key) {
        if (keys == hashes.ElementLength()) {
          report[0] = 2;
          return Napi::Number::New(env, -1);
        }
        hashes[keys++] = Hash(n->key(), n->key_length);
      }
      size_t shared = 0;
      if (count % static_cast<size_t>(restart) != 0) {
        if (same_key) {
          shared = n->key_length;
        } else {
          size_t most = std::min(last->key_length, n->key_length);
          while (shared < most && last->key()[shared] == n->key()[shared]) shared++;
        }
      }
      at = PutVarint(at, shared);
      at = PutVarint(at, n->key_length - shared);
      at = PutVarint(at, value_length);
      *at++ = n->value_length == kTombstone ? kKindDelete : kKindPut;
      at = PutVarint(at, n->seq);
      std::memcpy(at, n->key() + shared, n->key_length - shared);
      at += n->key_length - shared;
      if (value_length > 0) std::memcpy(at, n->value(), value_length);
      at += value_length;
      if (n->seq < min_seq) min_seq = n->seq;
      if (n->seq > max_seq) max_seq = n->seq;
      last = n;
      count++;
    }
    report[0] = static_cast<double>(count);
    report[1] = static_cast<double>(at - start);
    report[2] = first->index;
    report[3] = last->index;
    report[4] = static_cast<double>(keys);
    report[5] = static_cast<double>(min_seq);
    report[6] = static_cast<double>(max_seq);
    return Napi::Number::New(env, 1);
  }

  Napi::Value Free(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  void Release() {
    freed_ = true;
    arena_.Release();
    nodes_.clear();
    nodes_.shrink_to_fit();
    newest_.clear();
    newest_.shrink_to_fit();
    newest_used_ = 0;
    std::memset(&head_, 0, sizeof(head_));
    head_.node.height = kMaxHeight;
    height_ = 1;
  }

  Napi::Value Bytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(bytes_));
  }
  Napi::Value Keys(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(keys_)); }

  Arena arena_;
  // the newest entry of each key, by the key's hash (open addressing, at most half full): a point read
  // goes straight to its key instead of descending the skiplist
  std::vector<Node*> newest_;
  size_t newest_used_ = 0;
  Head head_;
  int height_ = 1;
  std::vector<Node*> nodes_;
  size_t bytes_ = 0;
  size_t keys_ = 0;
  uint32_t random_ = 0xdeadbeef;
  bool freed_ = false;
  Napi::Reference<Napi::Float64Array> results_ref_;
  double* results_ = nullptr;
};

}  // namespace

void DefineMemtable(Napi::Env env, Napi::Object exports) { exports.Set("Memtable", Memtable::Define(env)); }

}  // namespace persistfs
