// An O_PATH descriptor of `name` beneath directory `dirfd`, as the storage resolves names: the last
// component never followed if it is a symbolic link, never a path leaving `dirfd` ("..", an absolute
// link), never a /proc magic link. With `cached_only`, only as far as the dentry cache answers at once
// (RESOLVE_CACHED: -EAGAIN where a lookup would read the disk), for callers that may not block.
// Returns the descriptor, or -errno.
#ifndef PERSISTFS_OPEN_BENEATH_H
#define PERSISTFS_OPEN_BENEATH_H

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace persistfs {

inline int OpenPathBeneath(int dirfd, const char* name, bool cached_only) {
  open_how how{};
  how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (cached_only ? RESOLVE_CACHED : 0);
  const long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof how);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

}  // namespace persistfs

#endif  // PERSISTFS_OPEN_BENEATH_H
