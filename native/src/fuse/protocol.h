// The FUSE kernel protocol, as far as the native session needs it: the headers framing every request and
// reply on /dev/fuse. Written from the layout documented in the kernel's include/uapi/linux/fuse.h and
// Documentation/filesystems/fuse.rst (all fields little-endian, natural alignment, 64-bit padded). The
// bodies of the requests are decoded in TypeScript (mount/kernel/protocol.ts has their layouts).
#pragma once

#include <cstddef>
#include <cstdint>

namespace persistfs::fuse {

// Every request starts with this header; `len` counts the header and the body.
struct InHeader {
  uint32_t len;
  uint32_t opcode;
  uint64_t unique;  // the request's id: its reply carries it back
  uint64_t nodeid;
  uint32_t uid;
  uint32_t gid;
  uint32_t pid;
  uint16_t total_extlen;  // extensions after the body, in 8-byte units (only when negotiated)
  uint16_t padding;
};
static_assert(sizeof(InHeader) == 40, "fuse_in_header is 40 bytes");

// Every reply starts with this header; `error` is 0 or a negative errno (then no body follows).
struct OutHeader {
  uint32_t len;
  int32_t error;
  uint64_t unique;
};
static_assert(sizeof(OutHeader) == 16, "fuse_out_header is 16 bytes");

// The kernel refuses a read buffer smaller than this.
constexpr size_t kMinReadBuffer = 8192;
// Room for the request header and the largest fixed body that precedes WRITE data.
constexpr size_t kHeaderRoom = 4096;

}  // namespace persistfs::fuse
