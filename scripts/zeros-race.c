// A reader racing a truncate + rewrite: does any read see zeros (or a short file) where POSIX says the
// bytes were written? (issue 11: "the zeros a reader saw after a truncate + rewrite through the writeback
// cache"). Standalone: cc -O2 -pthread -o zeros-race scripts/zeros-race.c; ./zeros-race <file> [options]
//
// One writer loops: ftruncate(file, cut) to a pseudo-random cut, then writes [cut, N) back in chunks with
// pwrite (optionally fsync after the truncate and/or after the rewrite; -x: the cut file is first extended
// back to its full size by a second ftruncate, a hole of zeros until the rewrite reaches it). Generation g writes
// pattern g % 2; both patterns are never zero, so every byte a read returns must be pattern 0, pattern 1 or zero.
// Readers loop over the file with pread (optionally dropping the page cache first: fadvise DONTNEED, so
// that on a FUSE mount the kernel has to ask the server).
//
// What a read may legitimately return. Before each pread the reader takes G, the prefix the writer's
// *returned* calls guarantee: every byte below the end of the last pwrite that returned, and below the cut
// of the truncate in progress, if any. A truncate that STARTS during the read lowers G to its cut: a read
// racing a truncate may see a short file, and zeros past the cut (the page at the cut is zeroed past it by
// the truncate; on FUSE, a READ the server answers after its truncate but before the kernel has its
// SETATTR reply ends at the cut, and the kernel fills the rest with zeros under the old i_size).
// So, for a pread(off, len) returning ret bytes:
//   - a byte below G that is zero: FORBIDDEN (the write that put it there returned before the read began,
//     and nothing that ran during the read removed it);
//   - ret < min(len, G - off): FORBIDDEN short read;
//   - a byte that is neither pattern nor zero: WRONG; so is, in a read no truncate overlapped, a byte past
//     the last cut that is not the current generation's pattern (stale data) nor zero;
//   - zeros at or past G: counted, split by what raced: a truncate running when the read began or begun
//     during it ("racing truncate"), or only the writer's pwrite ("racing write": without -x never seen,
//     on ext4, our mounts or passthrough_hp; with -x the hole's zeros; of those, how many were in bytes a
//     pwrite that returned during the read had written).
// Exit status 1 when anything forbidden or wrong was seen. Output: one line of counts ("racing a truncate":
// the reads that overlapped one), and on stderr the first forbidden or wrong reads.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *path;
static long long size = 6 * 1048576 + 12345;
static long long chunk = 256 * 1024;
static long long readSize = 1048576;
static int readers = 2;
static double seconds = 5;
static int fsyncMode = 0;  // 0 never, 1 after the rewrite, 2 after the truncate, 3 both
static int dropMode = 1;   // 0 never, 1 before each pass over the file, 2 before each pread
static int extend = 0;     // 1: after the cut, ftruncate back to the full size (a hole) before the rewrite
static unsigned char *pattern[2];

// The writer's published state (sequentially consistent atomics).
#define CUTS 4096
static _Atomic long long validEnd;   // bytes [0, validEnd) were written by calls that returned, and stay
static _Atomic long long truncates;  // truncates started; cutOf[k % CUTS] is the cut of truncate k
static _Atomic long long truncated;  // truncates that returned
static _Atomic long long cutOf[CUTS];
static _Atomic int stop;
static double truncateSeconds;  // the writer's time in ftruncate(cut), for the mean printed at the end

struct counts {
  long long reads, bytes, forbiddenZeros, forbiddenShort, wrong, racingTruncate, racingWrite, racingWritten,
      shortRacing, readsRacingTruncate;
  long long zeroBytesForbidden;
};
static struct counts total;
static pthread_mutex_t totalLock = PTHREAD_MUTEX_INITIALIZER;
static int examplesLeft = 8;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  fprintf(stderr, "zeros-race: %s: %s\n", what, strerror(errno));
  exit(2);
}

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

static void *writer(void *arg) {
  (void)arg;
  int fd = open(path, O_WRONLY);
  if (fd < 0) die("open (writer)");
  uint64_t seed = 7;
  for (long long gen = 1; !atomic_load(&stop); gen++) {
    seed = mix(seed + gen);
    long long cut = (long long)(seed % (uint64_t)size);
    long long v = atomic_load(&validEnd);
    atomic_store(&validEnd, v < cut ? v : cut);  // lowered before the truncate starts
    atomic_store(&cutOf[gen % CUTS], cut);
    atomic_store(&truncates, gen);
    double began = now();
    if (ftruncate(fd, cut) != 0) die("ftruncate");
    truncateSeconds += now() - began;
    if (extend && ftruncate(fd, size) != 0) die("ftruncate (extend)");
    atomic_store(&truncated, gen);
    if ((fsyncMode & 2) && fsync(fd) != 0) die("fsync");
    const unsigned char *p = pattern[gen % 2];
    for (long long off = cut; off < size;) {
      long long n = size - off < chunk ? size - off : chunk;
      ssize_t w = pwrite(fd, p + off, n, off);
      if (w <= 0) die("pwrite");
      off += w;
      atomic_store(&validEnd, off);  // raised only once the pwrite returned
    }
    if ((fsyncMode & 1) && fsync(fd) != 0) die("fsync");
  }
  close(fd);
  return NULL;
}

static void example(const char *what, long long off, long long len, ssize_t ret, long long at, long long guaranteed,
                    long long t1, long long t2) {
  pthread_mutex_lock(&totalLock);
  if (examplesLeft > 0) {
    examplesLeft--;
    fprintf(stderr,
            "  %s: pread(off %lld, len %lld) = %zd, first at %lld (page %lld +%lld), guaranteed prefix %lld, "
            "truncates %lld..%lld\n",
            what, off, len, ret, at, at / 4096, at % 4096, guaranteed, t1, t2);
  }
  pthread_mutex_unlock(&totalLock);
}

static void *reader(void *arg) {
  (void)arg;
  int fd = open(path, O_RDONLY);
  if (fd < 0) die("open (reader)");
  unsigned char *buf = malloc(readSize);
  struct counts c = {0};
  while (!atomic_load(&stop)) {
    if (dropMode == 1) posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    for (long long off = 0; off < size && !atomic_load(&stop); off += readSize) {
      if (dropMode == 2) posix_fadvise(fd, off, readSize, POSIX_FADV_DONTNEED);
      long long e1 = atomic_load(&truncated);
      long long t1 = atomic_load(&truncates);
      long long guaranteed = atomic_load(&validEnd);
      ssize_t ret = pread(fd, buf, readSize, off);
      long long t2 = atomic_load(&truncates);
      long long writtenAtEnd = atomic_load(&validEnd);
      int truncating = t2 != t1 || e1 != t1;  // a truncate started during the read, or was running when it began
      if (ret < 0) die("pread");
      for (long long k = t1 + 1; k <= t2 && k - t1 <= CUTS; k++) {
        long long cut = atomic_load(&cutOf[k % CUTS]);
        if (cut < guaranteed) guaranteed = cut;
      }
      if (t2 - t1 > CUTS) guaranteed = 0;
      c.reads++;
      c.bytes += ret;
      long long want = guaranteed - off < readSize ? guaranteed - off : readSize;
      if (ret < want) {
        c.forbiddenShort++;
        example("FORBIDDEN short read", off, readSize, ret, off + ret, guaranteed, t1, t2);
      }
      if (truncating) c.readsRacingTruncate++;
      if (ret >= want && ret < readSize && truncating) {
        c.shortRacing++;
      }
      long long firstForbidden = -1, firstWrong = -1, zeros = 0, forbidden = 0, zerosWritten = 0;
      long long rewrittenFrom = atomic_load(&cutOf[t1 % CUTS]);
      for (long long i = 0; i < ret; i++) {
        unsigned char b = buf[i];
        long long at = off + i;
        // no truncate overlapped the read: the bytes past the last cut are this generation's (or not yet written)
        if (!truncating && t1 > 0 && at >= rewrittenFrom && b != 0 && b != pattern[t1 % 2][at]) {
          if (firstWrong < 0) firstWrong = at;
          continue;
        }
        if (b == pattern[0][at] || b == pattern[1][at]) continue;
        if (b != 0) {
          if (firstWrong < 0) firstWrong = at;
          continue;
        }
        zeros++;
        if (at < writtenAtEnd) zerosWritten++;
        if (at < guaranteed) {
          forbidden++;
          if (firstForbidden < 0) firstForbidden = at;
        }
      }
      if (firstWrong >= 0) {
        c.wrong++;
        example("WRONG byte", off, readSize, ret, firstWrong, guaranteed, t1, t2);
      }
      if (forbidden) {
        c.forbiddenZeros++;
        c.zeroBytesForbidden += forbidden;
        example("FORBIDDEN zeros", off, readSize, ret, firstForbidden, guaranteed, t1, t2);
      } else if (zeros) {
        if (truncating)
          c.racingTruncate++;
        else if (zerosWritten)
          c.racingWritten++;
        else
          c.racingWrite++;
      }
    }
  }
  pthread_mutex_lock(&totalLock);
  total.reads += c.reads;
  total.bytes += c.bytes;
  total.forbiddenZeros += c.forbiddenZeros;
  total.zeroBytesForbidden += c.zeroBytesForbidden;
  total.forbiddenShort += c.forbiddenShort;
  total.wrong += c.wrong;
  total.racingTruncate += c.racingTruncate;
  total.racingWrite += c.racingWrite;
  total.racingWritten += c.racingWritten;
  total.shortRacing += c.shortRacing;
  total.readsRacingTruncate += c.readsRacingTruncate;
  pthread_mutex_unlock(&totalLock);
  free(buf);
  close(fd);
  return NULL;
}

static void usage(void) {
  fprintf(stderr,
          "usage: zeros-race <file> [-s seconds] [-r readers] [-f fsync 0-3] [-d drop 0-2] [-n size] "
          "[-c write chunk] [-l read size] [-x]\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  path = argv[1];
  int opt;
  optind = 2;
  while ((opt = getopt(argc, argv, "s:r:f:d:n:c:l:x")) != -1) {
    switch (opt) {
      case 's':
        seconds = atof(optarg);
        break;
      case 'r':
        readers = atoi(optarg);
        break;
      case 'f':
        fsyncMode = atoi(optarg);
        break;
      case 'd':
        dropMode = atoi(optarg);
        break;
      case 'n':
        size = atoll(optarg);
        break;
      case 'c':
        chunk = atoll(optarg);
        break;
      case 'l':
        readSize = atoll(optarg);
        break;
      case 'x':
        extend = 1;
        break;
      default:
        usage();
    }
  }
  for (int p = 0; p < 2; p++) {
    pattern[p] = malloc(size);
    for (long long i = 0; i < size; i++) pattern[p][i] = (unsigned char)(1 + mix(i) % 127 + 128 * p);
  }
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open");
  for (long long off = 0; off < size;) {
    ssize_t w = pwrite(fd, pattern[0] + off, size - off, off);
    if (w <= 0) die("pwrite");
    off += w;
  }
  if (fsync(fd) != 0) die("fsync");
  close(fd);
  atomic_store(&validEnd, size);
  pthread_t w, r[64];
  if (readers > 64) readers = 64;
  double start = now();
  pthread_create(&w, NULL, writer, NULL);
  for (int i = 0; i < readers; i++) pthread_create(&r[i], NULL, reader, NULL);
  while (now() - start < seconds) usleep(20000);
  atomic_store(&stop, 1);
  pthread_join(w, NULL);
  for (int i = 0; i < readers; i++) pthread_join(r[i], NULL);
  printf(
      "generations %lld reads %lld (racing a truncate %lld) forbidden_zeros %lld (bytes %lld) forbidden_short %lld "
      "wrong %lld "
      "racing_truncate_zeros %lld racing_write_zeros %lld (of which in bytes written when the read returned %lld) "
      "short_racing_truncate %lld truncate_us %.0f\n",
      atomic_load(&truncates), total.reads, total.readsRacingTruncate, total.forbiddenZeros, total.zeroBytesForbidden,
      total.forbiddenShort, total.wrong, total.racingTruncate, total.racingWrite + total.racingWritten,
      total.racingWritten, total.shortRacing,
      truncateSeconds * 1e6 / (atomic_load(&truncates) ? atomic_load(&truncates) : 1));
  return total.forbiddenZeros || total.forbiddenShort || total.wrong ? 1 : 0;
}
