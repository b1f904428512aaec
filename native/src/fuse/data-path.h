// DataPath: the hot operations on open files, answered without JavaScript. When JavaScript opens a file
// for the kernel (OPEN, CREATE) it attaches the handle (file-table.h): the storage's descriptor, checked
// at OPEN, and the storage's size cell for the file. From then on READ, WRITE, FSYNC, FLUSH, RELEASE and
// GETATTR of that handle are served here, on the thread that received them, with their IO on that
// thread's io_uring (and, by node, node-table.h: GETATTR of a directory JavaScript attached, with one
// statx on its descriptor there and then, LOOKUP of a name such a directory does not have, absent, LOOKUP of a
// name JavaScript gave a node id that is still that inode, that node (node-table.h, "Known names"), GETATTR
// and SETATTR of a removed file, ENOENT, and UNLINK of such a known name, JavaScript told after; and the file of
// a CREATE in an attached directory is made here, and the CREATE answered here with a node id and handle JavaScript
// reserved (file-table.h, CreateSlot), JavaScript told after, or by JavaScript with the file when no slot is left): a
// READ is one preadv2(RWF_NOWAIT) on the storage's descriptor there and then when the page cache holds its data, else
// one pread there (a small READ on a /dev/fuse reader: ThreadReads) or one IORING_OP_READ, its completion the reply
// (after a run of misses, without the try: see kMissesBeforeSkip; over /dev/fuse, a large READ the page cache holds
// whole is spliced instead: see ReplySplice) (a small WRITE is one
// pwrite there and then: io_uring punts buffered writes on ext4 to a worker, see kInlineWrite). A file still being
// filled (a remote object's blocks as they arrive) has only the READs ending within its ready bytes served here, and
// its GETATTR goes to JavaScript. JavaScript keeps the policy and the storage's state: a write past the end raises the
// size cell it reads, a RELEASE is reported back so it closes the storage's file, an FSYNC of a file attached with
// syncByStorage goes to it (its sync records more than the data), as does a FLUSH of one attached with flushByStorage
// (its flush uploads; a count JavaScript gave is raised at each WRITE), the GETATTR of one attached with
// attributesByStorage (its descriptor's mode, owner and inode are not the file's), and a write whose file still has
// privilege bits to remove (HANDLE_KILLPRIV_V2) is handed to it. Any other request goes to JavaScript.
//
// One DataPath per serving thread; the transport (the /dev/fuse reader, or a FUSE-over-io_uring queue)
// says where a request's bytes are and how its reply leaves.
#pragma once

#include <liburing.h>
#include <sys/stat.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "file-table.h"
#include "node-table.h"
#include "protocol.h"

namespace persistfs::fuse {

// The requests the data path answers, by kind, for latencies and errors (persistfs stats).
enum StatKind : unsigned {
  kStatRead,
  kStatWrite,
  kStatFsync,
  kStatGetattr,
  kStatFlush,
  kStatRelease,
  kStatSetattr,
  kStatLookup,
  kStatGetxattr,
  kStatUnlink,
  kStatCreate,
  kStatKinds
};
// Latency buckets: bucket 0 under 1 us, bucket i from 2^(i-1) to 2^i us, the last one everything longer.
constexpr unsigned kLatencyBuckets = 32;

// What the data paths of one session did, together.
struct DataPathCounters {
  std::atomic<uint64_t> served{0};     // requests answered natively
  std::atomic<uint64_t> forwarded{0};  // requests of attached handles handed to JavaScript after all
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> writes{0};  // WRITE requests written to the storage's file
  std::atomic<uint64_t> largest_write{0};
  std::atomic<uint64_t> writebacks{0};           // writebacks started ahead of an fsync (data-path.cc kWritebackEvery)
  std::atomic<uint64_t> cached_reads{0};         // backing reads the page cache answered on the serving thread
  std::atomic<uint64_t> cache_tries_skipped{0};  // READs sent on without that try (data-path.cc)
  std::atomic<uint64_t> thread_reads{0};  // READs the cache did not answer, read by the reader's pread (ThreadReads)
  std::atomic<uint64_t> most_thread_reads{0};  // the most readers in such a pread at once
  std::atomic<uint64_t> thread_writes{0};     // large WRITEs by their reader's pwrite, a handle's in turn (ThreadReads)
  std::atomic<uint64_t> write_waits{0};       // ... of them, those that waited for another's WRITE of the handle
  std::atomic<uint64_t> spliced_reads{0};     // READ replies spliced from the storage's file to /dev/fuse
  std::atomic<uint64_t> splice_fallbacks{0};  // READs begun by splice, answered by copy or an error after all
  std::atomic<uint64_t> splice_pipes_busy{0};  // READs large enough to splice that found no free pipe (copied)
  std::atomic<uint64_t> splice_uncached{0};    // READs large enough to splice whose data the cache lacked (copied)
  std::atomic<uint64_t> known_lookups{0};      // LOOKUPs answered with the node JavaScript gave the name
  std::atomic<uint64_t> given_attributes{0};   // GETATTRs answered with the reply JavaScript gave (node-table.h)
  std::atomic<uint64_t> xattr_lists{0};        // GETXATTRs answered ENODATA after listing the file's none
  std::atomic<uint64_t> unlinks{0};            // UNLINKs made here (node-table.h, "Unlinks")
  std::atomic<uint64_t> creates{0};            // CREATEs whose file was made here, JavaScript answering
  std::atomic<uint64_t> answered_creates{0};   // CREATEs made and answered here (FileTable::GiveSlot)
  std::atomic<uint64_t> errors[kStatKinds] = {};
  std::atomic<uint64_t> latency[kStatKinds][kLatencyBuckets] = {};
  // One answered request of `kind` that arrived at `start_ns` (CLOCK_MONOTONIC); error: its errno or 0.
  void Record(unsigned kind, uint64_t start_ns, int error);
};

// The first u64 after an UNLINK's copy that tells JavaScript the data path made it (DataPath::ServeUnlink; then
// the node, its file's inode number and birth time): "unlinked" in ASCII.
constexpr uint64_t kUnlinkedHere = 0x64656b6e696c6e75;

// The first u64 after a CREATE's copy that tells JavaScript the data path made the file (DataPath::ServeCreate;
// then the descriptor, now JavaScript's, and its struct statx): "created" in ASCII.
constexpr uint64_t kCreatedHere = 0x0064657461657263;

// The first u64 after the copy of a CREATE the data path made and answered, told to JavaScript (DataPath::ServeCreate;
// then the descriptor, now JavaScript's, the slot's node id and handle, and the struct statx): "answered".
constexpr uint64_t kAnsweredHere = 0x6465726577736e61;

// CLOCK_MONOTONIC in nanoseconds.
uint64_t MonotonicNs();

// READ replies by splice (the /dev/fuse transport only), for READs whose data the page cache holds
// (DataPath::Resident): the reply header is written into a pipe of the reader's, the data spliced into it
// from the storage's file there and then (references to the page cache's pages), then the pipe is spliced
// to /dev/fuse in one call. The kernel copies the data once, from the page cache's pages into the request's,
// where the copy path copies it twice (into a buffer here, out of it to the kernel). A READ the cache does
// not hold is copied as before (through the ring): splicing it through the ring (IORING_OP_SPLICE, always
// served by an io-wq worker) cost more than the copy it saves (BENCHMARKS.md, "READ replies by splice").
struct ReplySplice {
  bool on = false;  // the /dev/fuse transport (each reply goes to its request's own descriptor): READs may be spliced
  size_t minimum = 0;  // READs of at least this many bytes are spliced; 0: none
  bool drain = false;  // for tests: each spliced reply is read back from its pipe and sent by copy (the fallback)
  size_t pipes = 8;    // pipes kept for it (a READ that finds all busy is copied)
};

// READs the page cache did not answer, on a /dev/fuse reader: one pread(2) on the reader itself when it has nothing
// else in flight and fewer than `limit` of the session's readers are in one already, else an IORING_OP_READ. The
// reader then waits in the read as a thread-per-request server's does, with no trip through the ring's completion
// (measured on this machine: 34-37 us of CPU a cold 4 KiB READ against 37-40 through the ring, random reads in four
// jobs 55-83K against 47-58K READs/s); the others keep reading /dev/fuse, and past `limit` the ring takes the reads,
// so any number of them can be in flight at once. Not on a FUSE-over-io_uring queue, whose one thread serves all of
// its CPU's requests.
// And a WRITE too large to be written there and then (kInlineWrite), on such a reader with nothing else in
// flight: one pwrite(2) on the reader, holding the open handle's write_mutex (file-table.h). The kernel sends a file's
// writeback as several WRITEs at once, each to its own reader; through the rings each went to its reader's own
// io-wq worker, and a buffered write on ext4 or tmpfs holds the inode's lock for its whole copy, so the workers
// spun on that lock (rwsem_spin_on_owner: 15% of the mount's CPU in a 1 GiB sequential write) on the CPU the
// writing process needed. Waiting on the mutex sleeps instead (BENCHMARKS.md, "A file's large WRITEs one at a time").
struct ThreadReads {
  std::atomic<uint64_t>* busy = nullptr;         // readers in such a pread now, shared by the session's; null: never
  const std::atomic<uint64_t>* limit = nullptr;  // half the readers that started
  bool writes = false;                           // large WRITEs too, as above
};

class DataPath {
 public:
  // A request as it arrived.
  struct Request {
    InHeader header;
    const uint8_t* arg = nullptr;  // the operation's fixed part (fuse_read_in, fuse_write_in, ...)
    size_t arg_length = 0;
    const uint8_t* data = nullptr;  // what follows it: a WRITE's data
    size_t data_length = 0;
    uint8_t* reply_room = nullptr;  // where a READ's data can go and be sent from (a ring entry), or null
    size_t reply_room_length = 0;
    uint8_t* buffer = nullptr;  // /dev/fuse: the buffer it was read into, which a WRITE keeps; else null
    int fuse_fd = -1;           // /dev/fuse: the descriptor it was read from, where its reply goes
    void* context = nullptr;    // the transport's
  };

  // How a transport answers and hands on.
  class Transport {
   public:
    virtual ~Transport() = default;
    // Answers `request`: `error`, or `length` bytes of reply body at `body` (which may be its reply_room).
    virtual void Send(const Request& request, int error, const void* body, size_t length) = 0;
    // Hands `request` to JavaScript after all; a buffer it holds (request.buffer) goes along.
    virtual void Forward(const Request& request) = 0;
    // Hands a copy of `request` to JavaScript with `extra` bytes after it (past the length its header says:
    // what the data path found out for it); the request's own buffer stays with the transport. False when no
    // copy could be made (out of memory): the request is answered ENOMEM instead.
    virtual bool ForwardCopy(const Request& request, const void* extra, size_t extra_length) = 0;
    // Tells JavaScript what the data path did: `copy` (from Copy, taken) is queued for it like a request, and
    // nobody waits for a reply to it. `lazy`: it may wait for JavaScript's next wake-up (nothing can reach
    // the node any more: session.cc, Enqueue).
    virtual void Tell(uint8_t* copy, size_t length, bool lazy) = 0;
  };

  // How long the kernel may keep what the data path answers: attributes, and a name's entry (or absence);
  // and whether the mount answers STATX (not on s3://: JavaScript leaves it ENOSYS there), which the data
  // path then answers where it answers GETATTR by node (an attached directory, a removed node), with the
  // birth time. And whether it may change the storage's names itself (UNLINK, a CREATE's file): not where the
  // storage is read-only (a read-only mount remounted read-write must still not write it).
  struct Timeouts {
    uint64_t attr_seconds = 1;
    uint32_t attr_nanoseconds = 0;
    uint64_t entry_seconds = 1;
    uint32_t entry_nanoseconds = 0;
    bool statx = false;
    bool changes_names = false;
  };

  DataPath(io_uring* ring, FileTable& files, NodeTable& nodes, Transport& transport, DataPathCounters& counters,
           Timeouts timeouts, size_t buffer_size, ReplySplice splice = ReplySplice(), size_t spares = 16,
           ThreadReads thread_reads = ThreadReads());
  ~DataPath();
  DataPath(const DataPath&) = delete;
  DataPath& operator=(const DataPath&) = delete;

  // Serves `request` when it is ours: false when it is not (the transport forwards it). When served, *kept
  // says whether the operation holds on to request.buffer (a WRITE's data) until it completes.
  bool Serve(const Request& request, bool* kept);
  void Complete(const io_uring_cqe* cqe);  // a CQE whose user_data is an operation of ours
  uint32_t inflight() const { return inflight_; }

  io_uring_sqe* Sqe();  // a free SQE of the ring, submitting what is queued when it is full
  // A malloc'ed copy of `request` as /dev/fuse gives it (header, fixed part, payload), `extra` after it;
  // *length: the copy's; null when out of memory.
  static uint8_t* Copy(const Request& request, const void* extra, size_t extra_length, size_t* length);
  // Buffers of buffer_size bytes (malloc'ed, so whoever takes one may free() it).
  uint8_t* TakeBuffer();
  void GiveBuffer(uint8_t* buffer);

 private:
  struct Op;
  void Submit(Op* op);                 // its IO on the ring (or, a small write, done at once: see kInlineWrite)
  void Completed(Op* op, int result);  // result: bytes, or -errno
  void Finish(Op* op, int error);      // answers (error 0: with the op's result), then retires it
  bool TryCache(OpenFile& file);       // whether a READ tries the page cache first (see kMissesBeforeSkip)
  bool ReadOnThread(Op* op);           // a READ by pread here and now (ThreadReads): false when it goes to the ring
  bool WriteOnThread(Op* op);  // a large WRITE by pwrite here and now (ThreadReads): false when it goes to the ring
  bool StartSplice(Op* op);    // a READ's header into a free pipe: false when it is copied instead
  bool Resident(int fd, uint64_t offset, size_t length);  // the page cache holds that range, read
  void SendSpliced(Op* op);                               // its data in the pipe: the pipe to /dev/fuse
  void SpliceFallback(Op* op, int error);  // a short or failed splice: the pipe drained, the reply by copy
  struct Pipe;
  void OpenPipe(Pipe* pipe);
  static void ClosePipe(Pipe* pipe);
  void Retire(Op* op);  // gives its buffer back, frees it, and lets go of its file
  void StartWriteback(const std::shared_ptr<OpenFile>& file, uint64_t offset, size_t written);  // see kWritebackEvery
  bool ServeByNode(const Request& request);  // GETATTR or STATX by node, or SETATTR (node-table.h); false when not ours
  bool ServeLookup(const Request& request);  // LOOKUP in an attached directory: an absent name, a known one
  bool ServeUnlink(const Request& request);  // UNLINK of a known name in an attached directory (node-table.h)
  bool ServeCreate(const Request& request);  // CREATE in an attached directory: the file made, JavaScript answers
  // CREATE's reply for the file `fd` just made as `name` in `directory` (statx `stx`), with `slot`: false when
  // it cannot be (nothing sent, the file as it was but maybe given to the caller)
  bool AnswerCreate(const Request& request, const AttachedDirectory& directory, const char* name, int fd,
                    struct statx* stx, const CreateSlot& slot, size_t slots_left, uint64_t start_ns);
  bool ServeGetxattr(const Request& request);  // GETXATTR of an attribute known absent, or of a file without any
  bool ListsNoXattrs(uint64_t nodeid);         // lists the node's attributes: none (node-table.h)
  void SendAttributes(const Request& request, const struct statx& stx);  // GETATTR's reply, or STATX's

  io_uring* const ring_;
  FileTable& files_;
  NodeTable& nodes_;
  Transport& transport_;
  DataPathCounters& counters_;
  const Timeouts timeouts_;
  const size_t buffer_size_;
  uint32_t inflight_ = 0;
  uint32_t writebacks_inflight_ = 0;  // of them, writebacks started (StartWriteback), whose completion nobody awaits
  // the operation being started is the only one in flight whose completion a reply waits for: the thread may block
  // in its IO (ReadOnThread, WriteOnThread) without holding up another's reply
  bool Alone() const { return inflight_ - writebacks_inflight_ <= 1; }
  std::vector<uint8_t*> spare_;  // buffers kept for reuse, up to spares_
  // The pipes of ReplySplice, each empty whenever it is not busy (a pipe that cannot be emptied is replaced).
  struct Pipe {
    int read = -1;
    int write = -1;
    bool busy = true;  // until opened
  };
  const ReplySplice splice_;
  const size_t spares_;
  const ThreadReads thread_reads_;
  std::vector<Pipe> pipes_;
  size_t pipe_pages_ = 0;  // pipe buffers each pipe holds: a reply needs one per page it touches, plus its header
  bool cachestat_works_ = true;
};

// fuse_attr_out's attributes of `s`, as JavaScript writes them from the same statx (mount/kernel/reply.ts writeAttr).
void AttrOf(Attr* a, const struct statx& s);
// fuse_statx_out's attributes of `s` (zeroed by the caller), as reply.ts statxOut writes them.
void StatxOf(Statx* x, const struct statx& s);
// fuse_entry_out of node `nodeid` with the attributes of `s` and both timeouts (reply.ts entryOut).
EntryOut EntryOf(uint64_t nodeid, const struct statx& s, const DataPath::Timeouts& timeouts);

}  // namespace persistfs::fuse
