// NodeTable: what the data path (data-path.h) answers about a node by its id alone, without JavaScript.
//
// Directories: a create or an unlink in a directory makes the kernel forget the directory's attributes,
// and under default_permissions it asks for them again (GETATTR of the parent) before the next lookup in
// it: one request per created or removed file that needs no policy, only an fstat. JavaScript attaches a
// directory node with the storage's descriptor of it, of which the table keeps a duplicate of its own (the
// storage may close its descriptor when its directory cache lets it go), and the node's file (FileId): a
// descriptor found to be another file (the name was replaced while JavaScript attached it) is never
// answered from. JavaScript detaches the node when it loses its name or is forgotten.
//
// An attached directory also answers LOOKUPs of names it does not have (data-path.h, ServeLookup), except
// the names JavaScript keeps for itself there (the storage's own files at its root): the storage behind an
// attached descriptor is that local directory, all of it.
//
// Directories without a descriptor (a bucket's, on an s3:// mount): JavaScript gives the data path the body
// of its GETATTR reply of such a directory (AttachAttributes), which answers the next GETATTRs with it until
// it expires (the attribute timeout from JavaScript's answer: as long as the kernel itself would have kept
// it, had the create not made it forget; each reply's attr_valid is what is left of that). JavaScript takes
// it back (DetachDirectory) before and after any change it makes that can change the directory's
// attributes (SETATTR, an UNLINK or RMDIR in it, any RENAME) and when the node loses its name or is
// forgotten; a GETATTR it answers while such a change is under way gives nothing (operations.ts,
// giveAttributes). A create in a bucket's directory changes none of its attributes (its marker's metadata).
//
// Removed nodes: JavaScript reports a node whose last name was unlinked while none of its handles was
// open (nor an OPEN under way); nothing can reach that file again (OPEN, LINK and every call by name need a
// name), and its GETATTR, STATX and SETATTR are answered here as JavaScript would: ESTALE for a second after the
// removal (the kernel resolved the name before a rename over it or an unlink, and on ESTALE looks it up
// again and retries once, where a local file system would still have reached the file), ENOENT after. The
// kernel still asks: with the writeback cache an unlink changes the file's ctime in the kernel's cache,
// which it writes back at once as a SETATTR of the unlinked file. Node ids are never reused while mounted,
// so an id stays true until the kernel forgets the node; the set is emptied when it is full (the requests
// of the ids it held go to JavaScript again).
//
// Known names: when JavaScript answers an entry (LOOKUP, CREATE, MKDIR, MKNOD, SYMLINK, LINK, a READDIRPLUS
// entry) in an attached directory it tells the table "(parent id, name) -> (node id, file)" (Named); a CREATE
// the data path answers (data-path.cc AnswerCreate) names its file itself, with the node id JavaScript reserved,
// and JavaScript counts that entry's lookup when it is told (before any FORGET of the node can reach it).
// A LOOKUP in an attached directory whose statx shows that file is answered by the data path with that
// node (Known), without JavaScript; another file (the name changed beside the mount), a miss, a kept name go
// to JavaScript as before. JavaScript stays the owner of node ids: it removes a name (Unnamed) when the name
// leaves the node (UNLINK, RMDIR, RENAME of either name, RENAME_EXCHANGE, a lookup finding another inode)
// before that request's reply is written, so no LOOKUP the kernel sends after seeing the change can find it.
//
// Lookup counts. Every entry reply counts one lookup of its node in the kernel, which FORGET gives back. The
// table counts the lookups the data path answered per node (in Known, under the mutex, before the reply is
// sent); JavaScript counts its own. When a FORGET brings JavaScript's count of a node to zero or below, it
// calls Settle(node, its count, drop): under the mutex the native count is added to JavaScript's and taken
// (set to zero), and with `drop`, when the total is zero, the node's names are removed, so that no LOOKUP can
// be answered with the node after that. The total is JavaScript's count from then on. Why that is enough:
// - A native reply is counted before it is sent, so at any time the counts held here and in JavaScript add
//   up to at least what the kernel received; a FORGET gives back only lookups the kernel received; so a
//   total of zero means the kernel holds no lookup of the node, and none is on its way.
// - A LOOKUP answered here between the FORGET and its Settle is counted before Settle takes the count (the
//   total is then one or more: the node stays), or it runs after Settle removed the names (it finds
//   nothing and goes to JavaScript, which makes a new node). Known and Settle hold the same mutex, so there
//   is no third order.
// - A reply with a node id the kernel forgot is a new inode for the kernel (fuse_iget makes one when the id
//   has none, after waiting for an eviction under way), counting from one; a FORGET of the old inode that
//   comes later still subtracts only what the old one had. Counts add per node id whatever the order of a
//   FORGET and a LOOKUP reply, so JavaScript may keep a node the kernel forgot, with its names, and the data
//   path give it out again (mount/kernel/node-table.ts keeps a bounded number of such nodes).
// - Several readers, and the FUSE-over-io_uring queues (one thread each), share this table and its mutex;
//   a reply written by a queue thread leaves after the count, as on /dev/fuse.
// - A name removed by JavaScript while a LOOKUP of it is between its statx and Known: found (the LOOKUP was
//   answered as if before the change; the kernel orders it as it orders any reply that crosses an UNLINK) or
//   not (it goes to JavaScript with its statx, as every LOOKUP of a present name did before). Such a statx
//   may show the directory from before or after a change JavaScript has or has not applied yet: JavaScript
//   takes one that disagrees with its table again, alone with the directory's name changes (operations.ts,
//   stillTrue), never as a change made beside the mount.
//
// Unlinks: an UNLINK in an attached directory of a name JavaScript gave a node (a regular file, symlink or other
// non-directory) is made by the data path (unlinkat on the directory's descriptor), which then takes the name away
// (Unnamed) and, when the file had no other link and nothing holds the node, marks the node removed, before its
// reply; JavaScript is told after (a copy of the request with what was unlinked, queued before the reply is
// written, so it comes before any request the kernel sends after seeing it) and updates its table then. Holds
// (Hold): each open handle of the node and each OPEN of it under way; JavaScript adds one as an OPEN begins (which
// becomes the handle's) or a CREATE makes a handle, and drops it as an OPEN fails or it answers a RELEASE; the data
// path drops a handle's as it answers its RELEASE (before the reply: JavaScript hears of that RELEASE later, and an
// unlink right after the close must find the node free). A node held when the data path looks is left for
// JavaScript to mark removed. The kernel runs one name change at a time in a directory (the UNLINK holds its lock
// and the file's), so no CREATE, RENAME, LINK or other UNLINK of that name or file runs beside it; an OPEN (which
// does not hold them) either holds the node first (it is not marked) or opens after the unlinkat (and fails: the
// name is gone). A name JavaScript keeps, one it does not know (or knows as another file: a change beside the
// mount), a directory and the last name of a large file (data-path.cc, kUnlinkBlocks) go to JavaScript.
//
// Absent extended attributes: JavaScript reports a GETXATTR it answered ENODATA (AbsentXattr), or a node
// whose file has no attributes at all (NoXattrs: its list was empty), and the data path answers the next
// GETXATTR of that node and name ENODATA itself, or of that node and any name the storage was seen to
// answer ENODATA for a file on the root's file system (a name it does not keep, say "foo" on ext4, is
// EOPNOTSUPP: asked for, present or not; the S3 adapter keeps none, so no name of its is ever absent; a file
// system mounted below the root may keep other names, so names are learned from, and nodes without
// attributes taken for, files on the root's only: OnRootFileSystem) (`ls -l` asks two of every file,
// security.selinux and system.posix_acl_access, and the kernel asks security.capability before the first
// write of every open). A node's attributes are its file's, whatever its names, and every change to them
// comes through this mount: JavaScript forgets them all (ForgetXattrs) before and after each SETXATTR and
// REMOVEXATTR, and reports an absence only when no forget happened while it was finding it out. Bounded
// (kAbsentXattrs): emptied when full.
// The data path finds out itself whether a node has attributes, for a GETXATTR of a name seen absent before
// (a cold `ls -l`: JavaScript is not asked for any file): it opens a name the table knows for the node
// (O_PATH, in its attached directory), checks the descriptor is the node's file, and lists its attributes
// through /proc/self/fd (as libfuse's passthrough does; regular files and directories on the root's file
// system only: the names were learned there, and a file system mounted below may keep others). The answer
// "none" is remembered only when no ForgetXattrs came between NameOf and NoXattrsSince.
// The table of names is bounded (kNames): past it an arbitrary name is let go (its LOOKUPs go to JavaScript
// again); counts are never let go (a node's count lives until JavaScript settles it).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../open-beneath.h"
#include "protocol.h"

namespace persistfs::fuse {

// Which backing file: its inode number and its birth time in ns (0: unknown), as mount/kernel/node-table.ts
// FileId (ext4 gives a new file the number of one just deleted). One file when the numbers are equal and
// the birth times too where both are known.
struct FileId {
  uint64_t ino;
  uint64_t born;

  bool Is(const FileId& other) const {
    return ino == other.ino && (born == other.born || born == 0 || other.born == 0);
  }
};

// The file a statx describes (its birth time where the statx has one).
inline FileId FileOf(const struct statx& stx) {
  const uint64_t born = (stx.stx_mask & STATX_BTIME) != 0
                            ? static_cast<uint64_t>(stx.stx_btime.tv_sec) * 1'000'000'000 + stx.stx_btime.tv_nsec
                            : 0;
  return FileId{stx.stx_ino, born};
}

// A descriptor of an attached directory, closed when the last user lets go of it.
struct AttachedDirectory {
  AttachedDirectory(int descriptor, FileId id, std::vector<std::string> kept)
      : fd(descriptor), file(id), kept_names(std::move(kept)) {}
  ~AttachedDirectory() { close(fd); }
  AttachedDirectory(const AttachedDirectory&) = delete;
  AttachedDirectory& operator=(const AttachedDirectory&) = delete;
  const int fd;
  const FileId file;                          // the node's file; ino 0: not checked (the root)
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
  // Directories whose attributes JavaScript gave (AttachAttributes) at once: emptied when full.
  static constexpr size_t kAttributes = 65536;
  // How long a removed node's GETATTR, STATX and SETATTR are ESTALE (mount/kernel/operations.ts, RECENTLY_REMOVED_MS).
  static constexpr uint64_t kRecentlyRemovedNs = 1'000'000'000;

  // Node `nodeid`, file `file`, is the directory open as `fd` (duplicated here), whose names `kept` are
  // JavaScript's to look up: 0, or an errno (EMFILE when full; ESTALE when fd is another file).
  int AttachDirectory(uint64_t nodeid, int fd, FileId file, std::vector<std::string> kept) {
    struct statx stx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_INO | STATX_BTIME, &stx) != 0) return errno;
    if (!S_ISDIR(stx.stx_mode) || (file.ino != 0 && !file.Is(FileOf(stx)))) return ESTALE;
    std::shared_ptr<AttachedDirectory> replaced;  // closed outside the lock (or by its last user)
    std::lock_guard<std::mutex> lock(mutex_);
    if (directories_.size() >= kDirectories && directories_.count(nodeid) == 0) return EMFILE;
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) return errno;
    if (nodeid == kRootId) root_device_ = DeviceOf(stx);
    std::shared_ptr<AttachedDirectory>& slot = directories_[nodeid];
    replaced = std::move(slot);
    slot = std::make_shared<AttachedDirectory>(own, file, std::move(kept));
    return 0;
  }

  // Node `nodeid`'s GETATTR is answered with `body` until `expires_ns` (CLOCK_MONOTONIC).
  void AttachAttributes(uint64_t nodeid, const AttrOut& body, uint64_t expires_ns) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (attributes_.size() >= kAttributes && attributes_.count(nodeid) == 0) attributes_.clear();
    attributes_[nodeid] = GivenAttributes{body, expires_ns};
  }

  // The GETATTR reply JavaScript gave for node `nodeid`, if it has not expired at `now_ns`, its attr_valid
  // what is left of it: the kernel keeps the attributes no longer than it would have kept JavaScript's reply.
  bool Attributes(uint64_t nodeid, uint64_t now_ns, AttrOut* body) {
    uint64_t expires_ns;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = attributes_.find(nodeid);
      if (it == attributes_.end()) return false;
      expires_ns = it->second.expires_ns;
      if (now_ns >= expires_ns) {
        attributes_.erase(it);
        return false;
      }
      *body = it->second.body;
    }
    const uint64_t left_ns = expires_ns - now_ns;
    body->attr_valid = left_ns / 1'000'000'000;
    body->attr_valid_nsec = static_cast<uint32_t>(left_ns % 1'000'000'000);
    return true;
  }

  // The data path no longer answers for node `nodeid`'s directory: its descriptor or its given attributes.
  void DetachDirectory(uint64_t nodeid) {
    std::shared_ptr<AttachedDirectory> gone;  // closed outside the lock (or by its last user)
    std::lock_guard<std::mutex> lock(mutex_);
    attributes_.erase(nodeid);
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

  // Node `nodeid` was removed at `now_ns` (CLOCK_MONOTONIC).
  void Removed(uint64_t nodeid, uint64_t now_ns) {
    std::lock_guard<std::mutex> lock(mutex_);
    MarkRemoved(nodeid, now_ns);
  }

  // What a GETATTR or SETATTR of node `nodeid` is answered at `now_ns`: 0 when it was not removed (the
  // request is served as any other), else ESTALE within kRecentlyRemovedNs of its removal, ENOENT after.
  int RemovedError(uint64_t nodeid, uint64_t now_ns) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = removed_.find(nodeid);
    if (it == removed_.end()) return 0;
    return now_ns - it->second < kRecentlyRemovedNs ? ESTALE : ENOENT;
  }

  // JavaScript answered `name` in `parent` with node `nodeid`, file `file`.
  void Named(uint64_t parent, std::string_view name, uint64_t nodeid, FileId file) {
    std::string key = KeyOf(parent, name);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = names_.find(key);
    if (it != names_.end()) {
      if (it->second.nodeid == nodeid) {
        it->second.file = file;
        return;
      }
      LetGo(it);
    }
    if (names_.size() >= kNames) LetGo(names_.begin());
    names_.emplace(key, KnownName{nodeid, file});
    nodes_[nodeid].keys.push_back(std::move(key));
  }

  // `name` left `parent` (or JavaScript no longer vouches for it): the removal's number (see Removals).
  uint64_t Unnamed(uint64_t parent, std::string_view name) {
    std::string key = KeyOf(parent, name);
    std::lock_guard<std::mutex> lock(mutex_);
    return TakeName(key);
  }

  // How many names JavaScript took away so far (Unnamed). A LOOKUP reads it before its statx and forwards it
  // with the statx: JavaScript learns a name from that statx only when no name left the directory after this
  // number (a statx made before a rename or unlink finished is not learned back: operations.ts, stillTrue).
  uint64_t Removals() const { return removals_.load(std::memory_order_seq_cst); }

  // A LOOKUP of `name` in `parent`, whose statx found file `file`: the node JavaScript gave that name, with one
  // lookup counted for it; 0 when the name is not known as that file (JavaScript answers).
  uint64_t Known(uint64_t parent, const char* name, FileId file) {
    std::string key = KeyOf(parent, name);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = names_.find(key);
    if (it == names_.end() || !it->second.file.Is(file)) return 0;
    nodes_[it->second.nodeid].lookups++;
    return it->second.nodeid;
  }

  // JavaScript's count of node `nodeid` is `lookups`: the node's total with the lookups answered here, which
  // are taken; with `drop`, a total of zero or less also removes the node's names (see above).
  int64_t Settle(uint64_t nodeid, int64_t lookups, bool drop) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = nodes_.find(nodeid);
    if (it == nodes_.end()) return lookups;
    const int64_t total = lookups + static_cast<int64_t>(it->second.lookups);
    it->second.lookups = 0;
    if (total <= 0 && drop) {
      for (const std::string& key : it->second.keys) names_.erase(key);
      it->second.keys.clear();
    }
    if (it->second.keys.empty()) nodes_.erase(it);
    return total;
  }

  // The node and file JavaScript gave `name` in `parent`, without counting a lookup: false when unknown.
  bool NameFile(uint64_t parent, const char* name, uint64_t* nodeid, FileId* file) {
    std::string key = KeyOf(parent, name);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = names_.find(key);
    if (it == names_.end()) return false;
    *nodeid = it->second.nodeid;
    *file = it->second.file;
    return true;
  }

  // Node `nodeid` gains (`delta` 1) or loses (-1) a hold: an open handle, or an OPEN under way (see "Unlinks").
  void Hold(uint64_t nodeid, int64_t delta) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = holds_.try_emplace(nodeid, 0).first;
    it->second += delta;
    if (it->second <= 0) holds_.erase(it);
  }

  // The data path unlinked `name` of `parent`, node `nodeid`'s name, at `now_ns`; `last_link`: the file had no
  // other. The name is taken away, and the node marked removed unless it is held or has other links (see
  // "Unlinks"). Returns whether it was marked.
  bool UnlinkedHere(uint64_t parent, std::string_view name, uint64_t nodeid, bool last_link, uint64_t now_ns) {
    std::string key = KeyOf(parent, name);
    std::lock_guard<std::mutex> lock(mutex_);
    TakeName(key);
    if (!last_link || holds_.count(nodeid) != 0) return false;
    MarkRemoved(nodeid, now_ns);
    return true;
  }

  // JavaScript answered GETXATTR `name` of node `nodeid` ENODATA (see "Absent extended attributes"); with
  // `learn_name` (the file is on the root's file system) the name is known to be answered ENODATA when absent.
  void AbsentXattr(uint64_t nodeid, std::string_view name, bool learn_name) {
    std::string key = KeyOf(nodeid, name);
    std::lock_guard<std::mutex> lock(mutex_);
    Remember(absent_xattrs_, std::move(key), kAbsentXattrs);
    if (learn_name) Remember(absent_names_, std::string(name), kAbsentNames);
  }

  // Whether the storage was seen to answer ENODATA for attribute `name` of a file on the root's file system.
  bool AbsentName(std::string_view name) {
    std::string key(name);
    std::lock_guard<std::mutex> lock(mutex_);
    return absent_names_.count(key) != 0;
  }

  // Opens node `nodeid`'s file (O_PATH) by a name the table knows for it, checked to be the node's file, a
  // regular file or a directory, on the root's file system: the descriptor (the caller closes it) or -1.
  // `cached_only`: from the dentry cache alone (openat2 RESOLVE_CACHED: no IO, for JavaScript's thread).
  // `xattr_forgets`: the count of ForgetXattrs before it looked (see NoXattrsSince).
  int OpenNodeFile(uint64_t nodeid, bool cached_only, uint64_t* xattr_forgets) {
    std::shared_ptr<AttachedDirectory> directory;
    std::string name;
    FileId file{};
    uint64_t root_device = 0;
    if (!NameOf(nodeid, &directory, &name, &file, xattr_forgets, &root_device)) return -1;
    const int fd = OpenPathBeneath(directory->fd, name.c_str(), cached_only);
    if (fd < 0) return -1;
    struct statx stx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_INO | STATX_BTIME, &stx) == 0 && file.Is(FileOf(stx)) &&
        (S_ISREG(stx.stx_mode) || S_ISDIR(stx.stx_mode)) && DeviceOf(stx) == root_device) {
      return fd;
    }
    close(fd);
    return -1;
  }

  // Whether node `nodeid`'s file is on the root's file system, as far as the dentry cache tells at once.
  bool OnRootFileSystem(uint64_t nodeid) {
    if (nodeid == kRootId) return true;
    uint64_t forgets = 0;
    const int fd = OpenNodeFile(nodeid, true, &forgets);
    if (fd < 0) return false;
    close(fd);
    return true;
  }

  // JavaScript found that node `nodeid` has no attributes at all (its caller checks OnRootFileSystem).
  void NoXattrs(uint64_t nodeid) {
    std::lock_guard<std::mutex> lock(mutex_);
    Remember(no_xattrs_, nodeid, kAbsentXattrs);
  }

  // A name of node `nodeid` in an attached directory: that directory, the name, the file JavaScript knows
  // there, the count of ForgetXattrs so far (see NoXattrsSince) and the root's device (root_device_), all
  // under one lock; false when the node has none.
  bool NameOf(uint64_t nodeid, std::shared_ptr<AttachedDirectory>* directory, std::string* name, FileId* file,
              uint64_t* xattr_forgets, uint64_t* root_device) {
    std::lock_guard<std::mutex> lock(mutex_);
    *xattr_forgets = xattr_forgets_;
    *root_device = root_device_;
    auto node = nodes_.find(nodeid);
    if (node == nodes_.end()) return false;
    for (const std::string& key : node->second.keys) {
      uint64_t parent;
      std::memcpy(&parent, key.data(), sizeof parent);
      auto attached = directories_.find(parent);
      auto known = names_.find(key);
      if (attached == directories_.end() || known == names_.end()) continue;
      *directory = attached->second;
      name->assign(key, sizeof parent, std::string::npos);
      *file = known->second.file;
      return true;
    }
    return false;
  }

  // The count of ForgetXattrs so far (see NoXattrsSince) and the root's device, under one lock.
  uint64_t XattrForgets(uint64_t* root_device) {
    std::lock_guard<std::mutex> lock(mutex_);
    *root_device = root_device_;
    return xattr_forgets_;
  }

  static uint64_t DeviceOf(const struct statx& stx) {
    return (static_cast<uint64_t>(stx.stx_dev_major) << 32) | stx.stx_dev_minor;
  }

  // The data path listed node `nodeid`'s attributes and found none, after `xattr_forgets` forgets (NameOf):
  // remembered unless an attribute was set or removed since (the list may be from before that change).
  void NoXattrsSince(uint64_t nodeid, uint64_t xattr_forgets) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (xattr_forgets == xattr_forgets_) Remember(no_xattrs_, nodeid, kAbsentXattrs);
  }

  // The data path listed node `nodeid`'s attributes and found some: it leaves the node to JavaScript.
  void HasXattrs(uint64_t nodeid) {
    std::lock_guard<std::mutex> lock(mutex_);
    Remember(has_xattrs_, nodeid, kAbsentXattrs);
  }

  // Whether the data path may list node `nodeid`'s attributes to answer GETXATTR `name`: the storage was
  // seen to answer ENODATA for that name, and the node is not known to have attributes.
  bool MayList(uint64_t nodeid, std::string_view name) {
    std::lock_guard<std::mutex> lock(mutex_);
    return has_xattrs_.count(nodeid) == 0 && absent_names_.count(std::string(name)) != 0;
  }

  // Whether attribute `name` of node `nodeid` is known absent.
  bool XattrAbsent(uint64_t nodeid, std::string_view name) {
    std::string key = KeyOf(nodeid, name);
    std::lock_guard<std::mutex> lock(mutex_);
    if (absent_xattrs_.count(key) != 0) return true;
    return no_xattrs_.count(nodeid) != 0 && absent_names_.count(std::string(name)) != 0;
  }

  // An attribute is being set or removed: no absence is known any more.
  void ForgetXattrs() {
    std::lock_guard<std::mutex> lock(mutex_);
    absent_xattrs_.clear();
    no_xattrs_.clear();
    has_xattrs_.clear();
    xattr_forgets_++;
  }

  size_t KnownNames() {
    std::lock_guard<std::mutex> lock(mutex_);
    return names_.size();
  }

  // Names known at once (see above).
  static constexpr size_t kNames = 65536;
  // Absent attributes known at once (node and name), and nodes known to have none.
  static constexpr size_t kAbsentXattrs = 65536;
  // Names known to be answered ENODATA when absent, on the root's file system (AbsentName).
  static constexpr size_t kAbsentNames = 4096;

 private:
  struct KnownName {
    uint64_t nodeid;
    FileId file;
  };
  struct NodeNames {
    uint64_t lookups = 0;           // LOOKUPs answered here since JavaScript last settled the node
    std::vector<std::string> keys;  // its names in names_
  };

  // Adds `value` to `set`, which is emptied first when it holds `limit` values already.
  template <typename Value>
  static void Remember(std::unordered_set<Value>& set, Value value, size_t limit) {
    if (set.size() >= limit) set.clear();
    set.insert(std::move(value));
  }

  static std::string KeyOf(uint64_t parent, std::string_view name) {
    std::string key(sizeof parent, '\0');
    std::memcpy(key.data(), &parent, sizeof parent);
    key.append(name);
    return key;
  }

  // Takes the name `key` away, if known, and counts the removal (the mutex held): the removal's number.
  uint64_t TakeName(const std::string& key) {
    auto it = names_.find(key);
    if (it != names_.end()) LetGo(it);
    return removals_.fetch_add(1, std::memory_order_seq_cst) + 1;
  }

  // Node `nodeid` was removed at `now_ns` (the mutex held).
  void MarkRemoved(uint64_t nodeid, uint64_t now_ns) {
    if (removed_.size() >= kRemoved) removed_.clear();
    removed_[nodeid] = now_ns;
  }

  // Removes a name (the mutex held); a node left with neither names nor a count is forgotten here.
  void LetGo(std::unordered_map<std::string, KnownName>::iterator it) {
    auto node = nodes_.find(it->second.nodeid);
    if (node != nodes_.end()) {
      std::vector<std::string>& keys = node->second.keys;
      for (size_t i = 0; i < keys.size(); i++) {
        if (keys[i] == it->first) {
          keys[i] = std::move(keys.back());
          keys.pop_back();
          break;
        }
      }
      if (keys.empty() && node->second.lookups == 0) nodes_.erase(node);
    }
    names_.erase(it);
  }

  std::mutex mutex_;
  std::atomic<uint64_t> removals_{0};
  std::unordered_map<uint64_t, std::shared_ptr<AttachedDirectory>> directories_;
  struct GivenAttributes {
    AttrOut body;
    uint64_t expires_ns;
  };
  std::unordered_map<uint64_t, GivenAttributes> attributes_;  // node id -> its GETATTR reply, given by JavaScript
  std::unordered_map<uint64_t, uint64_t> removed_;            // node id -> when it was removed
  std::unordered_map<uint64_t, int64_t> holds_;               // node id -> its open handles and OPENs under way
  std::unordered_map<std::string, KnownName> names_;
  std::unordered_map<uint64_t, NodeNames> nodes_;
  std::unordered_set<std::string> absent_xattrs_;  // KeyOf(node id, attribute name)
  std::unordered_set<uint64_t> no_xattrs_;         // nodes without any attribute
  std::unordered_set<std::string> absent_names_;   // names the storage answered ENODATA (ForgetXattrs keeps them)
  std::unordered_set<uint64_t> has_xattrs_;        // nodes the data path listed and found attributes of
  uint64_t xattr_forgets_ = 0;                     // ForgetXattrs calls so far
  // the file system of the mount's root (0 until the root is attached): the one whose answers taught the names
  // seen absent; a file on another one, mounted below, is left to JavaScript (OpenNodeFile)
  uint64_t root_device_ = 0;
};

}  // namespace persistfs::fuse
