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

// The root directory's node id, fixed by the protocol.
constexpr uint64_t kRootId = 1;

// Every reply starts with this header; `error` is 0 or a negative errno (then no body follows).
struct OutHeader {
  uint32_t len;
  int32_t error;
  uint64_t unique;
};
static_assert(sizeof(OutHeader) == 16, "fuse_out_header is 16 bytes");

// The opcodes the native side looks at: those the data path answers itself (data-path.h), and the FORGETs
// it hands to JavaScript without waking it (session.cc, Enqueue), and those nobody answers; JavaScript serves
// every other one.
enum Opcode : uint32_t {
  kLookup = 1,
  kForget = 2,
  kGetattr = 3,
  kSetattr = 4,
  kUnlink = 10,
  kRead = 15,
  kWrite = 16,
  kRelease = 18,
  kFsync = 20,
  kGetxattr = 22,
  kFlush = 25,
  kCreate = 35,
  kInterrupt = 36,
  kBatchForget = 42,
  kStatx = 52,
};

inline bool IsForget(const InHeader& header) { return header.opcode == kForget || header.opcode == kBatchForget; }
// Whether the kernel waits for a reply to the request (not to a FORGET, nor to an INTERRUPT).
inline bool AwaitsReply(const InHeader& header) { return !IsForget(header) && header.opcode != kInterrupt; }

// The bodies of those requests. Each begins with the handle (fh) that OPEN or CREATE answered.
struct GetattrIn {
  uint32_t getattr_flags;  // kGetattrFh: fh names an open file (fstat) rather than nothing (stat)
  uint32_t dummy;
  uint64_t fh;
};
constexpr uint32_t kGetattrFh = 1;

struct StatxIn {  // STATX: GETATTR's fields first, then statx(2)'s flags and mask (hints the kernel leaves at defaults)
  uint32_t getattr_flags;
  uint32_t reserved;
  uint64_t fh;
  uint32_t sx_flags;
  uint32_t sx_mask;
};

struct CreateIn {  // CREATE; the name follows (NUL-terminated)
  uint32_t flags;
  uint32_t mode;
  uint32_t umask;  // the caller's, which the kernel applied to mode already unless DONT_MASK was agreed
  uint32_t open_flags;
};

struct GetxattrIn {  // GETXATTR; the attribute's name follows (NUL-terminated)
  uint32_t size;
  uint32_t padding;
};

struct ReadIn {  // READ
  uint64_t fh;
  uint64_t offset;
  uint32_t size;
  uint32_t read_flags;
  uint64_t lock_owner;
  uint32_t flags;
  uint32_t padding;
};

struct WriteIn {  // WRITE; the data follows
  uint64_t fh;
  uint64_t offset;
  uint32_t size;
  uint32_t write_flags;  // kWriteKillSuidgid: the writer may not keep set-user-ID/set-group-ID bits
  uint64_t lock_owner;
  uint32_t flags;
  uint32_t padding;
};
constexpr uint32_t kWriteKillSuidgid = 1u << 2;

struct WriteOut {
  uint32_t size;
  uint32_t padding;
};

struct OpenOut {  // OPEN's reply, and CREATE's after its EntryOut
  uint64_t fh;
  uint32_t open_flags;
  int32_t backing_id;
};

struct FhIn {  // the common start of fuse_release_in, fuse_flush_in and fuse_fsync_in
  uint64_t fh;
  uint32_t flags;  // FSYNC: kFsyncFdatasync
  uint32_t padding;
};
constexpr uint32_t kFsyncFdatasync = 1;

struct Attr {
  uint64_t ino, size, blocks;
  uint64_t atime, mtime, ctime;  // seconds; the nanoseconds follow
  uint32_t atimensec, mtimensec, ctimensec;
  uint32_t mode, nlink, uid, gid, rdev, blksize, flags;
};
static_assert(sizeof(Attr) == 88, "fuse_attr is 88 bytes");

struct AttrOut {
  uint64_t attr_valid;  // how long the kernel may keep these attributes: seconds, then nanoseconds
  uint32_t attr_valid_nsec;
  uint32_t dummy;
  Attr attr;
};
static_assert(sizeof(AttrOut) == 104, "fuse_attr_out is 104 bytes");

struct SxTime {
  int64_t tv_sec;
  uint32_t tv_nsec;
  int32_t reserved;
};

struct Statx {  // fuse_statx: statx(2)'s struct statx up to the device numbers, then spare room
  uint32_t mask, blksize;
  uint64_t attributes;
  uint32_t nlink, uid, gid;
  uint16_t mode, spare0;
  uint64_t ino, size, blocks, attributes_mask;
  SxTime atime, btime, ctime, mtime;
  uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
  uint64_t spare2[14];
};
static_assert(sizeof(Statx) == 256, "fuse_statx is 256 bytes");

struct StatxOut {
  uint64_t attr_valid;  // seconds, then nanoseconds
  uint32_t attr_valid_nsec;
  uint32_t flags;
  uint64_t spare[2];
  Statx stat;
};
static_assert(sizeof(StatxOut) == 288, "fuse_statx_out is 288 bytes");

struct EntryOut {
  uint64_t nodeid;  // 0: the name is absent, and the kernel may remember that for entry_valid
  uint64_t generation;
  uint64_t entry_valid;  // seconds, then nanoseconds below
  uint64_t attr_valid;
  uint32_t entry_valid_nsec;
  uint32_t attr_valid_nsec;
  Attr attr;
};
static_assert(sizeof(EntryOut) == 128, "fuse_entry_out is 128 bytes");
static_assert(sizeof(ReadIn) == 40 && sizeof(WriteIn) == 40 && sizeof(GetattrIn) == 16, "request bodies");

// FUSE over io_uring (kernel 6.14+, the fuse module's enable_uring): each queue entry is an
// IORING_OP_URING_CMD on /dev/fuse in a ring of 128-byte SQEs, with two buffers: the headers below and the
// payload. REGISTER offers the entry; its completion brings a request: the in header in in_out, the
// operation's fixed part in op_in, the rest in the payload (payload_sz bytes). COMMIT_AND_FETCH carries the
// reply (the out header in in_out, the body in the payload) and offers the entry again.
constexpr uint32_t kUringCmdRegister = 1;
constexpr uint32_t kUringCmdCommitAndFetch = 2;

struct UringEntInOut {
  uint64_t flags;
  uint64_t commit_id;  // the request's unique, to quote at commit
  uint32_t payload_sz;
  uint32_t padding;
  uint64_t reserved;
};

struct UringHeaders {
  uint8_t in_out[128];  // fuse_in_header in, fuse_out_header out
  uint8_t op_in[128];   // the operation's fixed part
  UringEntInOut ring_ent_in_out;
};
static_assert(sizeof(UringHeaders) == 288, "fuse_uring_req_header is 288 bytes");

struct UringCmdReq {  // in the SQE's command area
  uint64_t flags;
  uint64_t commit_id;
  uint16_t qid;
  uint8_t padding[6];
};
static_assert(sizeof(UringCmdReq) == 24, "fuse_uring_cmd_req is 24 bytes");

// The kernel refuses a read buffer smaller than this.
constexpr size_t kMinReadBuffer = 8192;
// Room for the request header and the largest fixed body that precedes WRITE data.
constexpr size_t kHeaderRoom = 4096;

}  // namespace persistfs::fuse
