// FileTable: the open files JavaScript attached for the data path (data-path.h), by FUSE handle, shared by
// every thread that serves requests (the /dev/fuse reader and the FUSE-over-io_uring queues). A file is
// attached at OPEN and detached at RELEASE; its descriptor stays the storage's, so JavaScript closes it,
// and only once no operation of any thread still uses it: the last one out reports the release.
//
// The data path attaches files itself too: a CREATE it answers (data-path.cc ServeCreate) takes a slot
// JavaScript reserved ahead (GiveSlot: a node id, a handle and a size cell nobody else is given), and attaches
// a duplicate of the new file's descriptor that is its own (owns_fd), closed when the handle's last use is
// done: JavaScript takes the file it made afterwards, and may close or fail to take the original meanwhile.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace persistfs::fuse {

// What JavaScript attaches a handle with, beyond its descriptor and size cell.
struct AttachOptions {
  bool sync_by_storage = false;        // FSYNC goes to JavaScript: the storage's sync does more than an fdatasync of fd
  bool flush_by_storage = false;       // FLUSH goes to JavaScript: the storage's flush does something (an upload)
  bool attributes_by_storage = false;  // GETATTR, and a WRITE that may have to remove privilege bits, go to
                                       // JavaScript: fd's own mode, owner and inode are not the file's
  uint32_t* changes = nullptr;         // raised by one (atomically) as each WRITE served here ends: JavaScript's count
  const uint32_t* mode = nullptr;      // attributes_by_storage: the file's mode, which JavaScript keeps current
  const uint64_t* ready = nullptr;     // a file still being filled: a READ ending past this float64 goes to JavaScript
  uint64_t* served = nullptr;          // with ready: raised to the end of each READ served here (a float64)
  bool owns_fd = false;                // fd is the data path's own duplicate: closed with the OpenFile
};

// A node id, a FUSE handle and a size cell (a float64 JavaScript keeps alive) that JavaScript reserved for a
// file the data path makes and answers for (FileTable::GiveSlot).
struct CreateSlot {
  uint64_t nodeid;
  uint64_t fh;
  uint64_t* size;
};

struct OpenFile : AttachOptions {
  uint64_t fh;
  int fd;
  uint64_t nodeid;
  uint64_t* size;  // the storage's size of the file: a float64 that JavaScript reads

  std::mutex write_mutex;  // held by a reader through a large WRITE's pwrite (data-path.h, ThreadReads)
  std::mutex mutex;        // guards what follows
  // The sequential stream of WRITEs the data path starts writeback behind (data-path.cc kWritebackEvery):
  bool streaming = false;   // a WRITE has started it (the first one of this open starts it where it writes)
  uint64_t stream_end = 0;  // the end of its furthest WRITE
  uint64_t holes = 0;       // bytes it skipped and no WRITE arriving late has filled yet
  uint64_t unflushed = 0;   // bytes it wrote since its writeback was last started
  uint32_t inflight = 0;    // operations using fd
  bool released = false;    // RELEASE came: report it once inflight is 0

  // READs of this file in a row whose data the page cache did not hold, and READs that skipped the try since
  // (data-path.cc TryCache); every reader counts here, so the count is the file's, not one reader's share
  std::atomic<uint32_t> cache_misses{0};
  std::atomic<uint32_t> cache_skips{0};

  OpenFile() = default;
  ~OpenFile() {
    if (owns_fd) close(fd);
  }
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
};

class FileTable {
 public:
  // A handle released, and no longer used here: JavaScript closes the storage's file. `made_here`: a file the
  // data path made and attached itself (owns_fd), whose release JavaScript need not hear of at once.
  using Released = std::function<void(uint64_t fh, uint64_t nodeid, bool made_here)>;

  explicit FileTable(Released released) : released_(std::move(released)) {}

  void Attach(uint64_t fh, int fd, uint64_t nodeid, uint64_t* size, const AttachOptions& options) {
    auto file = std::make_shared<OpenFile>();
    static_cast<AttachOptions&>(*file) = options;
    file->fh = fh;
    file->fd = fd;
    file->nodeid = nodeid;
    file->size = size;
    std::lock_guard<std::mutex> lock(mutex_);
    latest_[nodeid] = file;
    files_[fh] = std::move(file);
  }

  // The attached file of node `nodeid` attached last and not released yet, counted as in use until Done();
  // null when there is none (another attached handle of the node may be there all the same).
  std::shared_ptr<OpenFile> UseOfNode(uint64_t nodeid) {
    std::shared_ptr<OpenFile> file;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = latest_.find(nodeid);
      if (it == latest_.end()) return nullptr;
      file = it->second.lock();
    }
    if (!file) return nullptr;
    std::lock_guard<std::mutex> lock(file->mutex);
    if (file->released) return nullptr;
    file->inflight++;
    return file;
  }

  // The attached file `fh` of node `nodeid`, counted as in use until Done(); null when not attached.
  std::shared_ptr<OpenFile> Use(uint64_t fh, uint64_t nodeid) {
    std::shared_ptr<OpenFile> file;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = files_.find(fh);
      if (it == files_.end() || it->second->nodeid != nodeid) return nullptr;
      file = it->second;
    }
    std::lock_guard<std::mutex> lock(file->mutex);
    file->inflight++;
    return file;
  }

  // One more use of `file`, which the caller has in use already (an operation it starts on its own).
  void Hold(OpenFile& file) {
    std::lock_guard<std::mutex> lock(file.mutex);
    file.inflight++;
  }

  void Done(OpenFile& file) {
    bool report;
    {
      std::lock_guard<std::mutex> lock(file.mutex);
      report = --file.inflight == 0 && file.released;
    }
    if (report) released_(file.fh, file.nodeid, file.owns_fd);
  }

  // RELEASE of `file` (which the caller has in use): detached now, reported when its last use is done.
  void Release(OpenFile& file) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      files_.erase(file.fh);
      auto latest = latest_.find(file.nodeid);
      if (latest != latest_.end() && latest->second.lock().get() == &file) latest_.erase(latest);
    }
    {
      std::lock_guard<std::mutex> lock(file.mutex);
      file.released = true;
    }
    Done(file);
  }

  // A slot JavaScript reserved for a CREATE the data path answers (see the top); TakeSlot: the oldest one,
  // false when none is left (the CREATE goes to JavaScript), *left: how many are left after it. A slot taken
  // and not used is given back.
  void GiveSlot(const CreateSlot& slot) {
    std::lock_guard<std::mutex> lock(mutex_);
    slots_.push_back(slot);
  }
  bool TakeSlot(CreateSlot* slot, size_t* left) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (slots_.empty()) return false;
    *slot = slots_.front();
    slots_.pop_front();
    *left = slots_.size();
    return true;
  }
  void GiveBack(const CreateSlot& slot) {
    std::lock_guard<std::mutex> lock(mutex_);
    slots_.push_front(slot);
  }

 private:
  Released released_;
  std::mutex mutex_;
  std::deque<CreateSlot> slots_;
  std::unordered_map<uint64_t, std::shared_ptr<OpenFile>> files_;
  std::unordered_map<uint64_t, std::weak_ptr<OpenFile>> latest_;  // by node: the file attached last (UseOfNode)
};

}  // namespace persistfs::fuse
