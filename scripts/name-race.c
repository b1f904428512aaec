// Names changing under lookups: replace-by-rename, RENAME_EXCHANGE, hard links
// made and removed, opens, reads, stats and listings, from 8 processes at once
// in one directory of a mount, while the caller drops the kernel's caches
// beside it (echo 2 > /proc/sys/vm/drop_caches). Made for the review of the
// native LOOKUP of known names (BENCHMARKS.md, "LOOKUP of known names:
// correctness review"); best with
// --entry-timeout 0 (every path walk revalidates its dentries: a LOOKUP without
// the directory's lock). Standalone: cc -O2 -o name-race scripts/name-race.c;
// ./name-race <dir in the mount> <seconds>
//
// Names t0..t7 always exist (a rename over one replaces it atomically, an
// exchange swaps two), and every file holds its own inode number at offset 0,
// written before it gets its name. Checks:
// - check/stat: stat, open, read of a t name: never ENOENT; the content names
// the inode fstat gives (a
//   node whose path names another file is caught here);
// - link: a hard link h<id> made to an open t file (through /proc/self/fd) is
// that inode, and 8 bytes
//   written through one name are read through the other at once (two node ids
//   of one inode: two page caches);
// - after: 3 rounds once all is quiet, past the kernel's timeouts: every t name
// stat-ed, opened and read,
//   all three agreeing. A race's transient error shows in the counts above;
//   what the node table kept wrong shows here.
// - setattr: chmod and truncate by path of a t name held open (checked as its
//   inode first): when the call succeeds, the attributes the kernel then has
//   for the open file (fstat, from the SETATTR's reply) must be that inode's
//   and agree with the file's own (statx AT_STATX_FORCE_SYNC of the
//   descriptor): a change by path that reached another file (one renamed over
//   the name) shows as another inode number, or a mode or size the open file
//   does not have. Only this process changes modes and sizes (sizes stay >=
//   128: the data).
// Each kind counts apart the calls that failed with ENOENT or ESTALE ("gone": a
// name race's transient answer, where a local file system would still reach
// the file it resolved), other failed calls and any failed fstat of an open
// descriptor ("err") and wrong answers ("bad": another file's data or
// attributes). Exit status 1 when any is not 0.
// A plain ext4 directory: all 0 (link's ENOENT is not counted: a link to a
// file replaced since its open, nlink 0, is ENOENT everywhere).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N 8
struct counts {
  long ops[8];
  long bad[8];
  long gone[8];
  long err[8];
  char first[3][8][200];
};
static struct counts *C;
static const char *names[] = {"replace", "exchange", "link",    "check",
                              "list",    "stat",     "setattr", ""};
#define KINDS 7

// what: 0 bad (a wrong answer), 1 gone (ENOENT/ESTALE), 2 err (another error)
static void note(int kind, int what, const char *fmt, va_list ap) {
  long *count[] = {C->bad, C->gone, C->err};
  __atomic_fetch_add(&count[what][kind], 1, __ATOMIC_RELAXED);
  char *first = C->first[what][kind];
  if (first[0] == 0)
    vsnprintf(first, 200, fmt, ap);
}

// a wrong answer of a check of `kind` (another file's data or attributes)
static void bad(int kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  note(kind, 0, fmt, ap);
  va_end(ap);
}

// a call on an open descriptor of a check of `kind` that failed (errno): never
// a name race's answer, always "err"
static void broken(int kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  note(kind, 2, fmt, ap);
  va_end(ap);
}

// a call of a check of `kind` that failed (errno): ENOENT and ESTALE are gone
static void failed(int kind, const char *fmt, ...) {
  int gone = errno == ENOENT || errno == ESTALE;
  va_list ap;
  va_start(ap, fmt);
  note(kind, gone ? 1 : 2, fmt, ap);
  va_end(ap);
}

static int make(const char *name) {
  int fd = open(name, O_CREAT | O_EXCL | O_RDWR, 0644);
  if (fd < 0)
    return -1;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return -1;
  }
  uint64_t ino = st.st_ino;
  char pad[128] = {0};
  memcpy(pad, &ino, 8);
  if (pwrite(fd, pad, sizeof pad, 0) != sizeof pad) {
    close(fd);
    return -1;
  }
  close(fd);
  return 0;
}

static int deadline;
static int alive(void) { return time(NULL) < deadline; }

static void replacer(int id) {
  char tmp[64], t[16];
  unsigned r = id * 7919;
  for (long i = 0; alive(); i++) {
    snprintf(tmp, sizeof tmp, "tmp%d.%ld", id, i);
    snprintf(t, sizeof t, "t%d", (r = r * 1103515245 + 12345) % N);
    if (make(tmp) != 0) {
      failed(0, "make %s: %s", tmp, strerror(errno));
      continue;
    }
    if (rename(tmp, t) != 0)
      failed(0, "rename %s %s: %s", tmp, t, strerror(errno));
    __atomic_fetch_add(&C->ops[0], 1, __ATOMIC_RELAXED);
  }
}

static void exchanger(void) {
  char a[16], b[16];
  unsigned r = 12345;
  while (alive()) {
    int i = (r = r * 1103515245 + 12345) % N,
        j = (r = r * 1103515245 + 12345) % N;
    if (i == j)
      continue;
    snprintf(a, sizeof a, "t%d", i);
    snprintf(b, sizeof b, "t%d", j);
    if (renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0)
      failed(1, "exchange %s %s: %s", a, b, strerror(errno));
    __atomic_fetch_add(&C->ops[1], 1, __ATOMIC_RELAXED);
  }
}

static void linker(int id) {
  char t[16], h[16], proc[64];
  unsigned r = 777 + id;
  snprintf(h, sizeof h, "h%d", id);
  for (uint64_t v = 1; alive(); v++) {
    snprintf(t, sizeof t, "t%d", (r = r * 1103515245 + 12345) % N);
    int fd1 = open(t, O_RDWR);
    if (fd1 < 0) {
      failed(2, "open %s: %s", t, strerror(errno));
      continue;
    }
    struct stat s1, s2, s3;
    if (fstat(fd1, &s1) != 0) {
      broken(2, "fstat of open %s: %s", t, strerror(errno));
      close(fd1);
      continue;
    }
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd1);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, h, AT_SYMLINK_FOLLOW) !=
        0) { // ENOENT: replaced since the open (nlink 0)
      if (errno != ENOENT)
        failed(2, "link %s: %s", t, strerror(errno));
      close(fd1);
      continue;
    }
    int fd2 = open(h, O_RDWR);
    if (fd2 < 0)
      failed(2, "open %s: %s", h, strerror(errno));
    else if (fstat(fd2, &s2) != 0)
      broken(2, "fstat of open %s: %s", h, strerror(errno));
    else {
      if (s2.st_ino != s1.st_ino)
        bad(2, "%s ino %lu, its link %s ino %lu", t, s1.st_ino, h, s2.st_ino);
      uint64_t w = v * 1000 + id, got = 0;
      pwrite(fd1, &w, 8, 64 + 8 * id);
      if (pread(fd2, &got, 8, 64 + 8 * id) != 8 || got != w)
        bad(2, "wrote %lu through %s, read %lu through %s", w, t, got, h);
      if (stat(h, &s3) != 0)
        failed(2, "stat %s: %s", h, strerror(errno));
      else if (s3.st_ino != s1.st_ino)
        bad(2, "stat %s: ino %lu (want %lu)", h, s3.st_ino, s1.st_ino);
      close(fd2);
    }
    if (unlink(h) != 0)
      failed(2, "unlink %s: %s", h, strerror(errno));
    close(fd1);
    __atomic_fetch_add(&C->ops[2], 1, __ATOMIC_RELAXED);
  }
}

static void checker(int id) {
  char t[16];
  unsigned r = 99 + id;
  while (alive()) {
    snprintf(t, sizeof t, "t%d", (r = r * 1103515245 + 12345) % N);
    struct stat st, fs;
    if (stat(t, &st) != 0)
      failed(5, "stat %s: %s", t, strerror(errno));
    __atomic_fetch_add(&C->ops[5], 1, __ATOMIC_RELAXED);
    int fd = open(t, O_RDONLY);
    if (fd < 0) {
      failed(3, "open %s: %s", t, strerror(errno));
      continue;
    }
    uint64_t ino = 0;
    if (fstat(fd, &fs) != 0)
      broken(3, "fstat of open %s: %s", t, strerror(errno));
    else if (pread(fd, &ino, 8, 0) != 8)
      failed(3, "read %s: %s", t, strerror(errno));
    else if (ino != fs.st_ino)
      bad(3, "%s: content says ino %lu, fstat %lu", t, ino, fs.st_ino);
    close(fd);
    __atomic_fetch_add(&C->ops[3], 1, __ATOMIC_RELAXED);
    if ((r & 15) ==
        0) { // a listing (READDIRPLUS) and a stat of each name in it
      DIR *d = opendir(".");
      struct dirent *e;
      while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != 't' || e->d_name[1] == 'm')
          continue;
        if (stat(e->d_name, &st) != 0)
          failed(4, "stat listed %s: %s", e->d_name, strerror(errno));
      }
      closedir(d);
      __atomic_fetch_add(&C->ops[4], 1, __ATOMIC_RELAXED);
    }
  }
}

// chmod and truncate by path of an open t name (see the top)
static void setattrer(int id) {
  char t[16];
  unsigned r = 4242 + id;
  while (alive()) {
    snprintf(t, sizeof t, "t%d", (r = r * 1103515245 + 12345) % N);
    int fd = open(t, O_RDONLY);
    if (fd < 0) {
      failed(6, "open %s: %s", t, strerror(errno));
      continue;
    }
    struct stat before, cached;
    struct statx own;
    uint64_t ino = 0;
    if (fstat(fd, &before) != 0 || pread(fd, &ino, 8, 0) != 8 ||
        ino != before.st_ino) { // the checker counts those
      close(fd);
      continue;
    }
    int chmodding = (r >> 8) & 1, rc;
    mode_t mode = S_IFREG | ((before.st_mode & 0777) == 0644 ? 0640 : 0644);
    off_t size = before.st_size == 128 ? 136 : 128;
    rc = chmodding ? chmod(t, mode & 0777) : truncate(t, size);
    if (rc != 0)
      failed(6, "%s %s: %s", chmodding ? "chmod" : "truncate", t,
             strerror(errno));
    else if (fstat(fd, &cached) != 0 ||
             statx(fd, "", AT_EMPTY_PATH | AT_STATX_FORCE_SYNC,
                   STATX_BASIC_STATS, &own) != 0)
      broken(6, "stat of open %s: %s", t, strerror(errno));
    else if (cached.st_ino != before.st_ino || own.stx_ino != before.st_ino ||
             cached.st_mode != own.stx_mode ||
             (uint64_t)cached.st_size != own.stx_size)
      bad(6,
          "%s %s: open ino %lu, then cached ino %lu mode %o size %ld; its "
          "own ino %llu mode %o size %llu",
          chmodding ? "chmod" : "truncate", t, before.st_ino, cached.st_ino,
          cached.st_mode, (long)cached.st_size, (unsigned long long)own.stx_ino,
          own.stx_mode, (unsigned long long)own.stx_size);
    close(fd);
    __atomic_fetch_add(&C->ops[6], 1, __ATOMIC_RELAXED);
  }
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: namestress DIR SECONDS\n");
    return 2;
  }
  if (chdir(argv[1]) != 0) {
    perror(argv[1]);
    return 2;
  }
  C = mmap(NULL, sizeof *C, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
           -1, 0);
  char t[16];
  for (int i = 0; i < N; i++) {
    snprintf(t, sizeof t, "t%d", i);
    unlink(t);
    if (make(t)) {
      perror(t);
      return 2;
    }
  }
  deadline = time(NULL) + atoi(argv[2]);
  void (*roles[])(int) = {replacer, replacer, (void (*)(int))exchanger,
                          linker,   linker,   checker,
                          checker,  checker,  setattrer};
  int n = sizeof roles / sizeof roles[0];
  for (int i = 0; i < n; i++)
    if (fork() == 0) {
      roles[i](i);
      _exit(0);
    }
  for (int i = 0; i < n; i++)
    wait(NULL);
  // Afterwards, quiet: every name must be its file (the node table's view, not
  // a race's): three rounds past the kernel's timeouts, each name stat-ed,
  // opened, read.
  long after = 0;
  char first_after[200] = "";
  for (int round = 0; round < 3; round++) {
    sleep(2);
    for (int i = 0; i < N; i++) {
      snprintf(t, sizeof t, "t%d", i);
      struct stat st, fs;
      uint64_t ino = 0;
      int fd = open(t, O_RDONLY);
      if (stat(t, &st) != 0 || fd < 0 || fstat(fd, &fs) != 0 ||
          pread(fd, &ino, 8, 0) != 8 || ino != fs.st_ino ||
          st.st_ino != fs.st_ino) {
        if (!after++)
          snprintf(first_after, sizeof first_after,
                   "%s: fd %d errno %s, stat %lu, fstat %lu, content %lu", t,
                   fd, strerror(errno), st.st_ino, fs.st_ino, ino);
      }
      if (fd >= 0)
        close(fd);
    }
  }
  printf("after    bad %ld%s%s\n", after, after ? "  first: " : "",
         first_after);
  long total = after;
  for (int k = 0; k < KINDS; k++) {
    printf("%-8s ops %8ld bad %ld gone %ld err %ld", names[k], C->ops[k],
           C->bad[k], C->gone[k], C->err[k]);
    const char *what[] = {"bad", "gone", "err"};
    for (int w = 0; w < 3; w++)
      if (C->first[w][k][0])
        printf("  first %s: %s", what[w], C->first[w][k]);
    printf("\n");
    total += C->bad[k] + C->gone[k] + C->err[k];
  }
  return total ? 1 : 0;
}
