// Whether a new entry in the directory `dirfd` takes its mode from a default POSIX ACL (then the kernel
// ignores the umask) or from the umask: 1 the directory has a default ACL, 0 it has none (or the file
// system keeps no ACLs), -errno when that cannot be told.
#ifndef PERSISTFS_DEFAULT_ACL_H
#define PERSISTFS_DEFAULT_ACL_H

#include <sys/xattr.h>

#include <cerrno>

namespace persistfs {

inline int HasDefaultAcl(int dirfd) {
  if (fgetxattr(dirfd, "system.posix_acl_default", nullptr, 0) >= 0) return 1;
  return errno == ENODATA || errno == EOPNOTSUPP ? 0 : -errno;
}

}  // namespace persistfs

#endif  // PERSISTFS_DEFAULT_ACL_H
