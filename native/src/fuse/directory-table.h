// DirectoryTable: the directories whose GETATTR the data path answers (data-path.h), by node. A create or
// an unlink in a directory makes the kernel forget the directory's attributes, and under default_permissions
// it asks for them again (GETATTR of the parent) before the next lookup in it: one request per created or
// removed file that needs no policy, only an fstat. JavaScript attaches a directory node with the storage's
// descriptor of it, of which the table keeps a duplicate of its own (the storage may close its descriptor
// when its directory cache lets it go), and the node's inode number: a descriptor found to be another inode
// (the name was replaced while JavaScript attached it) is never answered from. JavaScript detaches the node
// when it loses its name or is forgotten.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace persistfs::fuse {

// A descriptor of an attached directory, closed when the last user lets go of it.
struct AttachedDirectory {
  AttachedDirectory(int descriptor, uint64_t inode) : fd(descriptor), ino(inode) {}
  ~AttachedDirectory() { close(fd); }
  AttachedDirectory(const AttachedDirectory&) = delete;
  AttachedDirectory& operator=(const AttachedDirectory&) = delete;
  const int fd;
  const uint64_t ino;  // the node's inode number; 0: not checked (the root)
};

class DirectoryTable {
 public:
  // At most this many directories are attached at once (each holds a descriptor); past it JavaScript answers.
  static constexpr size_t kCapacity = 4096;

  // Node `nodeid`, inode `ino`, is the directory open as `fd` (duplicated here): 0, or an errno (EMFILE when full).
  int Attach(uint64_t nodeid, int fd, uint64_t ino) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (directories_.size() >= kCapacity && directories_.count(nodeid) == 0) return EMFILE;
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) return errno;
    directories_[nodeid] = std::make_shared<AttachedDirectory>(own, ino);
    return 0;
  }

  void Detach(uint64_t nodeid) {
    std::shared_ptr<AttachedDirectory> gone;  // closed outside the lock (or by its last user)
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = directories_.find(nodeid);
    if (it == directories_.end()) return;
    gone = std::move(it->second);
    directories_.erase(it);
  }

  // The directory of node `nodeid`, kept open while the caller holds it; null when not attached.
  std::shared_ptr<AttachedDirectory> Use(uint64_t nodeid) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = directories_.find(nodeid);
    return it == directories_.end() ? nullptr : it->second;
  }

  size_t size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return directories_.size();
  }

 private:
  std::mutex mutex_;
  std::unordered_map<uint64_t, std::shared_ptr<AttachedDirectory>> directories_;
};

}  // namespace persistfs::fuse
