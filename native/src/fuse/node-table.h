// NodeTable: what the data path (data-path.h) answers about a node by its id alone, without JavaScript.
//
// Directories: a create or an unlink in a directory makes the kernel forget the directory's attributes,
// and under default_permissions it asks for them again (GETATTR of the parent) before the next lookup in
// it: one request per created or removed file that needs no policy, only an fstat. JavaScript attaches a
// directory node with the storage's descriptor of it, of which the table keeps a duplicate of its own (the
// storage may close its descriptor when its directory cache lets it go), and the node's inode number: a
// descriptor found to be another inode (the name was replaced while JavaScript attached it) is never
// answered from. JavaScript detaches the node when it loses its name or is forgotten.
//
// An attached directory also answers LOOKUPs of names it does not have (data-path.h, ServeLookup), except
// the names JavaScript keeps for itself there (the storage's own files at its root): the storage behind an
// attached descriptor is that local directory, all of it.
//
// Removed nodes: JavaScript reports a node whose last name was unlinked while none of its handles was
// open; nothing can reach that file again (OPEN, LINK and every call by name need a name), and JavaScript
// answers its GETATTR and SETATTR with ENOENT. The kernel still asks: with the writeback cache an unlink
// changes the file's ctime in the kernel's cache, which it writes back at once as a SETATTR of the unlinked
// file. Node ids are never reused while mounted, so an id stays true until the kernel forgets the node;
// the set is emptied when it is full (the requests of the ids it held go to JavaScript again).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace persistfs::fuse {

// A descriptor of an attached directory, closed when the last user lets go of it.
struct AttachedDirectory {
  AttachedDirectory(int descriptor, uint64_t inode, std::vector<std::string> kept)
      : fd(descriptor), ino(inode), kept_names(std::move(kept)) {}
  ~AttachedDirectory() { close(fd); }
  AttachedDirectory(const AttachedDirectory&) = delete;
  AttachedDirectory& operator=(const AttachedDirectory&) = delete;
  const int fd;
  const uint64_t ino;                         // the node's inode number; 0: not checked (the root)
  const std::vector<std::string> kept_names;  // names whose LOOKUP JavaScript answers even when absent

  bool LeavesToJavaScript(const char* name) const {
    for (const std::string& kept : kept_names) {
      if (kept == name) return true;
    }
    return false;
  }
};

class NodeTable {
 public:
  // At most this many directories are attached at once (each holds a descriptor); past it JavaScript answers.
  static constexpr size_t kDirectories = 4096;
  // Removed nodes remembered at once.
  static constexpr size_t kRemoved = 65536;

  // Node `nodeid`, inode `ino`, is the directory open as `fd` (duplicated here), whose names `kept` are
  // JavaScript's to look up: 0, or an errno (EMFILE when full; ESTALE when fd is another inode).
  int AttachDirectory(uint64_t nodeid, int fd, uint64_t ino, std::vector<std::string> kept) {
    struct stat st;
    if (fstat(fd, &st) != 0) return errno;
    if (!S_ISDIR(st.st_mode) || (ino != 0 && static_cast<uint64_t>(st.st_ino) != ino)) return ESTALE;
    std::shared_ptr<AttachedDirectory> replaced;  // closed outside the lock (or by its last user)
    std::lock_guard<std::mutex> lock(mutex_);
    if (directories_.size() >= kDirectories && directories_.count(nodeid) == 0) return EMFILE;
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) return errno;
    std::shared_ptr<AttachedDirectory>& slot = directories_[nodeid];
    replaced = std::move(slot);
    slot = std::make_shared<AttachedDirectory>(own, ino, std::move(kept));
    return 0;
  }

  void DetachDirectory(uint64_t nodeid) {
    std::shared_ptr<AttachedDirectory> gone;  // closed outside the lock (or by its last user)
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = directories_.find(nodeid);
    if (it == directories_.end()) return;
    gone = std::move(it->second);
    directories_.erase(it);
  }

  // The directory of node `nodeid`, kept open while the caller holds it; null when not attached.
  std::shared_ptr<AttachedDirectory> Directory(uint64_t nodeid) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = directories_.find(nodeid);
    return it == directories_.end() ? nullptr : it->second;
  }

  void Removed(uint64_t nodeid) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (removed_.size() >= kRemoved) removed_.clear();
    removed_.insert(nodeid);
  }

  bool IsRemoved(uint64_t nodeid) {
    std::lock_guard<std::mutex> lock(mutex_);
    return removed_.count(nodeid) != 0;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<uint64_t, std::shared_ptr<AttachedDirectory>> directories_;
  std::unordered_set<uint64_t> removed_;
};

}  // namespace persistfs::fuse
