// See uring-queue.h. The queue's thread owns its ring, its DataPath and every entry it holds; JavaScript
// owns an entry from the moment its request is handed over until Reply() stages the answer.
#include "uring-queue.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <future>

namespace persistfs::fuse {

namespace {

// user_data of the queue thread's two polls; an entry's commands carry the entry's address + 1 (entries
// are 8-byte aligned), and the data path's operations their own address.
constexpr uint64_t kWake = 2;
constexpr uint64_t kStop = 4;
constexpr uint64_t kEntryTag = 1;

void Drain(int eventfd) {
  uint64_t value;
  ssize_t n = read(eventfd, &value, sizeof value);
  (void)n;  // EAGAIN: drained already
}

}  // namespace

UringQueue::UringQueue(int fuse_fd, unsigned qid, unsigned depth, size_t payload_size, FileTable& files,
                       NodeTable& nodes, DataPathCounters& counters, DataPath::Timeouts timeouts, Hooks hooks)
    : fuse_fd_(fuse_fd),
      qid_(qid),
      payload_size_(payload_size),
      files_(files),
      nodes_(nodes),
      counters_(counters),
      timeouts_(timeouts),
      hooks_(std::move(hooks)),
      entries_(depth) {
  for (Entry& entry : entries_) {
    entry.headers = static_cast<UringHeaders*>(std::aligned_alloc(4096, 4096));
    entry.payload = static_cast<uint8_t*>(std::aligned_alloc(4096, (payload_size + 4095) / 4096 * 4096));
    entry.payload_size = payload_size;
    entry.iov[0] = {entry.headers, sizeof(UringHeaders)};
    entry.iov[1] = {entry.payload, payload_size};
    entry.queue = this;
  }
}

UringQueue::~UringQueue() {
  Stop();
  for (Entry& entry : entries_) {
    std::free(entry.headers);
    std::free(entry.payload);
  }
  if (wake_fd_ >= 0) close(wake_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
}

int UringQueue::Start() {
  for (Entry& entry : entries_) {
    if (entry.headers == nullptr || entry.payload == nullptr) return -ENOMEM;
  }
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0 || stop_fd_ < 0) return -errno;
  std::promise<int> ready;
  std::future<int> result = ready.get_future();
  thread_ = std::thread([this, ready = std::move(ready)]() mutable {
    // The queue of CPU qid serves the tasks running there: run beside them, so no wake-up crosses CPUs.
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(qid_, &cpus);
    pthread_setaffinity_np(pthread_self(), sizeof cpus, &cpus);
    io_uring_params params{};
    params.flags = IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    const unsigned depth = static_cast<unsigned>(entries_.size()) * 2 + 16;
    int error = io_uring_queue_init_params(depth, &ring_, &params);
    if (error == -EINVAL) {
      params = io_uring_params{};
      params.flags = IORING_SETUP_SQE128;
      error = io_uring_queue_init_params(depth, &ring_, &params);
    }
    setup_error_ = error;
    ready.set_value(error);
    if (error == 0) Run();
  });
  int error = result.get();
  if (error != 0) {
    thread_.join();
    return error;
  }
  return 0;
}

void UringQueue::Register() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    register_ = true;
  }
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof one);
  (void)n;
}

void UringQueue::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  ssize_t n = write(stop_fd_, &one, sizeof one);
  (void)n;  // an eventfd write fails only on overflow
  thread_.join();
}

void UringQueue::Run() {
  data_ = std::make_unique<DataPath>(&ring_, files_, nodes_, *this, counters_, timeouts_, payload_size_);
  auto watch = [this](int fd, uint64_t tag) {
    io_uring_sqe* sqe = data_->Sqe();
    io_uring_prep_poll_add(sqe, fd, POLLIN);
    io_uring_sqe_set_data64(sqe, tag);
  };
  watch(wake_fd_, kWake);
  watch(stop_fd_, kStop);
  bool running = true;
  while (running || data_->inflight() > 0) {
    int submitted = io_uring_submit_and_wait(&ring_, 1);
    if (submitted < 0 && submitted != -EINTR && submitted != -EBUSY) {
      kernel_error_.store(submitted, std::memory_order_relaxed);
      break;  // the ring itself failed: what is in it can no longer be waited for
    }
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      seen++;
      const uint64_t tag = io_uring_cqe_get_data64(cqe);
      if (tag == kStop) {
        running = false;
      } else if (tag == kWake) {
        Drain(wake_fd_);
        std::vector<Staged> staged;
        bool register_now;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          staged.swap(staged_);
          register_now = register_;
          register_ = false;
        }
        if (register_now) {
          for (Entry& entry : entries_) Command(&entry, kUringCmdRegister);
        }
        for (const Staged& s : staged) Commit(s.entry, s.error, s.length);
        if (running) watch(wake_fd_, kWake);
      } else if (tag & kEntryTag) {
        auto* entry = reinterpret_cast<Entry*>(tag & ~kEntryTag);
        if (cqe->res == 0) {
          Arrived(entry);
        } else if (cqe->res != -ENOTCONN && cqe->res != -ECANCELED) {
          // (those two: the connection or the ring is going away) anything else: the kernel refused it
          int expected = 0;
          kernel_error_.compare_exchange_strong(expected, cqe->res, std::memory_order_relaxed);
        }
      } else {
        data_->Complete(cqe);
      }
    }
    io_uring_cq_advance(&ring_, seen);
  }
  // Leaving cancels the entries' commands still in the kernel; the entries' memory outlives the ring.
  io_uring_queue_exit(&ring_);
  data_.reset();
}

void UringQueue::Command(Entry* entry, uint32_t command) {
  io_uring_sqe* sqe = data_->Sqe();
  std::memset(sqe, 0, 2 * sizeof(io_uring_sqe));  // an SQE128: the command area follows
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = fuse_fd_;
  sqe->cmd_op = command;
  if (command == kUringCmdRegister) {
    sqe->addr = reinterpret_cast<uint64_t>(entry->iov);
    sqe->len = 2;
  }
  auto* request = reinterpret_cast<UringCmdReq*>(sqe->cmd);
  request->qid = static_cast<uint16_t>(qid_);
  request->commit_id = command == kUringCmdCommitAndFetch ? entry->unique : 0;
  io_uring_sqe_set_data64(sqe, reinterpret_cast<uint64_t>(entry) | kEntryTag);
}

void UringQueue::Arrived(Entry* entry) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  DataPath::Request request;
  std::memcpy(&request.header, entry->headers->in_out, sizeof request.header);
  const size_t payload = entry->headers->ring_ent_in_out.payload_sz;
  entry->unique = request.header.unique;
  const size_t length = request.header.len;
  if (length < sizeof(InHeader) + payload || length - sizeof(InHeader) - payload > sizeof entry->headers->op_in ||
      payload > entry->payload_size) {
    return Commit(entry, EIO, 0);  // not a request as the protocol lays it out
  }
  request.arg = entry->headers->op_in;
  request.arg_length = length - sizeof(InHeader) - payload;
  request.data = entry->payload;
  request.data_length = payload;
  request.reply_room = entry->payload;
  request.reply_room_length = entry->payload_size;
  request.context = entry;
  bool kept;
  if (!data_->Serve(request, &kept)) Forward(request);
}

void UringQueue::Send(const DataPath::Request& request, int error, const void* body, size_t length) {
  auto* entry = static_cast<Entry*>(request.context);
  if (error == 0 && length > 0 && body != entry->payload) std::memcpy(entry->payload, body, length);
  Commit(entry, error, error == 0 ? length : 0);
}

// The request as /dev/fuse would have given it (header, fixed part, payload in one buffer), for JavaScript.
void UringQueue::Forward(const DataPath::Request& request) { ForwardCopy(request, nullptr, 0); }

bool UringQueue::ForwardCopy(const DataPath::Request& request, const void* extra, size_t extra_length) {
  auto* entry = static_cast<Entry*>(request.context);
  size_t length;
  uint8_t* copy = DataPath::Copy(request, extra, extra_length, &length);
  if (copy == nullptr) {
    Commit(entry, ENOMEM, 0);
    return false;
  }
  hooks_.to_javascript(copy, length, request.header.unique, entry, false);
  return true;
}

// What the data path did, for JavaScript: queued like a request, with no entry waiting for its reply; a lazy one
// waits for JavaScript's next wake-up, as from a /dev/fuse reader (session.cc, Enqueue).
void UringQueue::Tell(uint8_t* copy, size_t length, bool lazy) { hooks_.to_javascript(copy, length, 0, nullptr, lazy); }

void UringQueue::Commit(Entry* entry, int error, size_t payload_length) {
  OutHeader header{static_cast<uint32_t>(sizeof(OutHeader) + payload_length), -error, entry->unique};
  std::memcpy(entry->headers->in_out, &header, sizeof header);
  entry->headers->ring_ent_in_out.payload_sz = static_cast<uint32_t>(payload_length);
  Command(entry, kUringCmdCommitAndFetch);
}

void UringQueue::Reply(Entry* entry, int error, const iovec* parts, size_t count) {
  size_t length = 0;
  if (error == 0) {
    for (size_t i = 0; i < count; i++) length += parts[i].iov_len;
    if (length > entry->payload_size) {
      error = EIO;  // cannot happen: the kernel bounds what it asks for by max_write
      length = 0;
    }
  }
  if (error == 0) {
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
      std::memcpy(entry->payload + at, parts[i].iov_base, parts[i].iov_len);
      at += parts[i].iov_len;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    staged_.push_back({entry, error, length});
  }
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof one);
  (void)n;
}

}  // namespace persistfs::fuse
