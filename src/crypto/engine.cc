#include "src/crypto/engine.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace vhdcrypt {
namespace {

constexpr unsigned kMaxThreads = 256;
constexpr size_t kMaxChunkBytes = 256 * 1024 * 1024;
constexpr size_t kBufferAlign = 4096;  // whole pages, so O_DIRECT writers could take them as they are

// The chunk buffers: one page-aligned block, wiped before it is freed
// because it holds plaintext.
class BufferPool {
 public:
  BufferPool() = default;
  ~BufferPool() {
    if (base_ != nullptr) {
      OPENSSL_cleanse(base_, count_ * chunk_);
      ::operator delete (base_, std::align_val_t{kBufferAlign});
    }
  }
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  Status Allocate(size_t count, size_t chunk) {
    base_ = static_cast<uint8_t*>(::operator new (count* chunk, std::align_val_t{kBufferAlign}, std::nothrow));
    if (base_ == nullptr) {
      return IoError("cannot allocate " + std::to_string(count) + " chunk buffers of " + std::to_string(chunk) +
                     " bytes");
    }
    count_ = count;
    chunk_ = chunk;
    return {};
  }
  size_t count() const { return count_; }
  uint8_t* slot(size_t i) { return base_ + i * chunk_; }

 private:
  uint8_t* base_ = nullptr;
  size_t count_ = 0;
  size_t chunk_ = 0;
};

// State shared by the reader, the workers and the writer. Chunk i lives in
// slot i % slots from its read until its write: the reader reads chunk i
// only once chunk i - slots has been written, so at most `slots` chunks are
// in flight and the reader can never starve the writer of the chunk it waits
// for (that chunk was read before every other one in flight).
class Pipeline {
 public:
  // `pieces`: the volume's byte ranges (from its start), each at most one
  // buffer long, in order.
  Pipeline(const VolumeJob& job, const std::vector<Extent>& pieces, uint64_t total, BufferPool& pool)
      : job_(job), pieces_(pieces), chunks_(pieces.size()), total_(total), pool_(pool), done_(pool.count(), kNone) {}

  void Reader() {
    const uint64_t slots = pool_.count();
    for (uint64_t i = 0; i < chunks_; ++i) {
      {
        std::unique_lock lock(mu_);
        reader_cv_.wait(lock, [&] { return stop_ || i < written_ + slots; });
        if (stop_) return;
      }
      Status s = job_.source->ReadAt(job_.source_offset + pieces_[i].offset, Span(i));
      std::lock_guard lock(mu_);
      if (!s.ok()) return FailLocked(s.error());
      ++read_;
      work_cv_.notify_one();
    }
  }

  // `first`, when not null, is applied before `cipher` (re-encryption).
  void Worker(XtsCipher* first, XtsCipher& cipher) {
    for (;;) {
      uint64_t i;
      {
        std::unique_lock lock(mu_);
        work_cv_.wait(lock, [&] { return stop_ || claimed_ < read_ || claimed_ == chunks_; });
        if (stop_ || claimed_ == chunks_) return;
        i = claimed_++;
        if (claimed_ == chunks_) work_cv_.notify_all();  // the idle workers may leave
      }
      Status s;
      if (first != nullptr) s = first->Apply(pieces_[i].offset / 512, Span(i));
      if (s.ok()) s = cipher.Apply(pieces_[i].offset / 512, Span(i));
      std::lock_guard lock(mu_);
      if (!s.ok()) return FailLocked(s.error());
      done_[i % pool_.count()] = i;
      writer_cv_.notify_one();
    }
  }

  // Runs on the calling thread.
  Status Writer(const EngineProgress& progress) {
    uint64_t done_bytes = 0;
    for (uint64_t i = 0; i < chunks_; ++i) {
      {
        std::unique_lock lock(mu_);
        writer_cv_.wait(lock, [&] { return stop_ || done_[i % pool_.count()] == i; });
        if (stop_) return FirstErrorLocked();
      }
      Status s = job_.out->Write(job_.out_offset + pieces_[i].offset, Span(i));
      if (!s.ok()) {
        std::lock_guard lock(mu_);
        FailLocked(s.error());
        return FirstErrorLocked();
      }
      {
        std::lock_guard lock(mu_);
        ++written_;
        reader_cv_.notify_one();
      }
      done_bytes += pieces_[i].length;
      if (progress) progress(done_bytes, total_);
    }
    return {};
  }

  // Makes every thread return as soon as it is done with its current chunk.
  void Stop() {
    std::lock_guard lock(mu_);
    StopLocked();
  }

 private:
  static constexpr uint64_t kNone = UINT64_MAX;

  std::span<uint8_t> Span(uint64_t i) {
    return {pool_.slot(i % pool_.count()), static_cast<size_t>(pieces_[i].length)};
  }

  // The first error is the one reported; it stops everyone.
  void FailLocked(const Error& error) {
    if (!error_) error_ = error;
    StopLocked();
  }
  Error FirstErrorLocked() const { return error_ ? *error_ : IoError("volume job stopped"); }
  void StopLocked() {
    stop_ = true;
    reader_cv_.notify_all();
    work_cv_.notify_all();
    writer_cv_.notify_all();
  }

  const VolumeJob& job_;
  const std::vector<Extent>& pieces_;
  const uint64_t chunks_;
  const uint64_t total_;
  BufferPool& pool_;

  std::mutex mu_;
  std::condition_variable reader_cv_;  // a slot was freed
  std::condition_variable work_cv_;    // a chunk was read
  std::condition_variable writer_cv_;  // a chunk was transformed
  uint64_t read_ = 0;                  // chunks [0, read_) are read
  uint64_t claimed_ = 0;               // chunks [0, claimed_) are taken by workers
  uint64_t written_ = 0;               // chunks [0, written_) are written
  std::vector<uint64_t> done_;         // per slot: the chunk transformed in it, or kNone
  bool stop_ = false;
  std::optional<Error> error_;
};

// Joins every thread it started, after stopping the pipeline, on every way
// out of RunVolumeJob.
class Crew {
 public:
  explicit Crew(Pipeline& pipeline) : pipeline_(pipeline) {}
  ~Crew() {
    pipeline_.Stop();
    for (auto& t : threads_) t.join();
  }
  Crew(const Crew&) = delete;
  Crew& operator=(const Crew&) = delete;

  template <typename F>
  Status Start(F&& body) {
    try {
      threads_.emplace_back(std::forward<F>(body));
    } catch (const std::system_error& e) {
      return IoError(std::string("cannot start an engine thread: ") + e.what());
    }
    return {};
  }

 private:
  Pipeline& pipeline_;
  std::vector<std::thread> threads_;
};

bool RangeInside(uint64_t offset, uint64_t length, uint64_t size) { return offset <= size && length <= size - offset; }

Status ValidateJob(const VolumeJob& job, const EngineOptions& options) {
  if (job.source == nullptr) return UsageError("volume job has no source image");
  if (job.out == nullptr) return UsageError("volume job has no output image");
  if (job.sector_size != 512 && job.sector_size != 4096) {
    return UsageError("encryption sector size " + std::to_string(job.sector_size) + " is not 512 or 4096");
  }
  if (options.chunk_bytes == 0 || options.chunk_bytes % 4096 != 0 || options.chunk_bytes % job.sector_size != 0 ||
      options.chunk_bytes > kMaxChunkBytes) {
    return UsageError("engine chunk size " + std::to_string(options.chunk_bytes) +
                      " is not a multiple of 4096 between 4096 and " + std::to_string(kMaxChunkBytes));
  }
  if (options.threads > kMaxThreads) {
    return UsageError("engine thread count " + std::to_string(options.threads) + " is above the limit of " +
                      std::to_string(kMaxThreads));
  }
  if (job.length % job.sector_size != 0) {
    return UsageError("volume length " + std::to_string(job.length) + " is not a whole number of " +
                      std::to_string(job.sector_size) + "-byte sectors");
  }
  if (job.source_offset % 512 != 0) {
    return UsageError("volume offset " + FormatOffset(job.source_offset) + " in " + job.source->path() +
                      " is not a multiple of 512");
  }
  if (job.out_offset % 512 != 0) {
    return UsageError("data segment offset " + FormatOffset(job.out_offset) + " is not a multiple of 512");
  }
  if (!RangeInside(job.source_offset, job.length, job.source->virtual_size())) {
    return UsageError("volume of " + std::to_string(job.length) + " bytes at " + FormatOffset(job.source_offset) +
                      " runs past the end of " + job.source->path() + " (" +
                      std::to_string(job.source->virtual_size()) + " bytes)");
  }
  if (!RangeInside(job.out_offset, job.length, job.out->virtual_size())) {
    return UsageError("data segment of " + std::to_string(job.length) + " bytes at " + FormatOffset(job.out_offset) +
                      " runs past the end of the output disk (" + std::to_string(job.out->virtual_size()) + " bytes)");
  }
  if (!job.source_key.empty() && job.direction != Direction::kEncrypt) {
    return UsageError("a volume job re-encrypts from a source key only when it encrypts");
  }
  if (job.only != nullptr) {
    uint64_t end = 0;
    for (const Extent& e : *job.only) {
      if (e.length == 0 || e.offset % job.sector_size != 0 || e.length % job.sector_size != 0 || e.offset < end ||
          !RangeInside(e.offset, e.length, job.length)) {
        return UsageError("volume range of " + std::to_string(e.length) + " bytes at " + FormatOffset(e.offset) +
                          " is empty, out of order, not whole " + std::to_string(job.sector_size) +
                          "-byte sectors or outside the volume of " + std::to_string(job.length) + " bytes");
      }
      end = e.end();
    }
  }
  return {};
}

// The job's ranges cut into pieces of at most one buffer.
std::vector<Extent> Pieces(const VolumeJob& job, size_t chunk, uint64_t* total) {
  const std::vector<Extent> whole{{0, job.length}};
  const std::vector<Extent>& ranges = job.only != nullptr ? *job.only : whole;
  std::vector<Extent> pieces;
  *total = 0;
  for (const Extent& e : ranges) {
    for (uint64_t at = e.offset; at < e.end(); at += chunk)
      pieces.push_back({at, std::min<uint64_t>(chunk, e.end() - at)});
    *total += e.length;
  }
  return pieces;
}

}  // namespace

Status RunVolumeJob(const VolumeJob& job, const EngineOptions& options, const EngineProgress& progress) {
  RETURN_IF_ERROR(ValidateJob(job, options));
  uint64_t total = 0;
  const std::vector<Extent> pieces = Pieces(job, options.chunk_bytes, &total);
  if (pieces.empty()) {
    if (progress) progress(0, 0);
    return {};
  }
  const uint64_t chunks = pieces.size();
  unsigned threads = options.threads != 0 ? options.threads : std::thread::hardware_concurrency();
  threads = static_cast<unsigned>(std::clamp<uint64_t>(threads, 1, std::min<uint64_t>(chunks, kMaxThreads)));

  // Every worker's cipher is keyed here, so a bad key fails before any thread starts.
  std::vector<XtsCipher> ciphers;
  std::vector<XtsCipher> decrypters;  // re-encryption only
  ciphers.reserve(threads);
  decrypters.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) {
    ASSIGN_OR_RETURN(XtsCipher cipher, XtsCipher::Create(job.key, job.sector_size, job.direction));
    ciphers.push_back(std::move(cipher));
    if (!job.source_key.empty()) {
      ASSIGN_OR_RETURN(XtsCipher decrypter, XtsCipher::Create(job.source_key, job.sector_size, Direction::kDecrypt));
      decrypters.push_back(std::move(decrypter));
    }
  }

  // Declared before the crew: the buffers outlive every thread using them.
  BufferPool pool;
  uint64_t largest = 0;
  for (const Extent& p : pieces) largest = std::max(largest, p.length);
  RETURN_IF_ERROR(
      pool.Allocate(static_cast<size_t>(std::min<uint64_t>(2 * threads + 2, chunks)), static_cast<size_t>(largest)));
  Pipeline pipeline(job, pieces, total, pool);
  Status status;
  {
    Crew crew(pipeline);
    status = crew.Start([&] { pipeline.Reader(); });
    for (unsigned t = 0; status.ok() && t < threads; ++t) {
      XtsCipher* first = decrypters.empty() ? nullptr : &decrypters[t];
      status = crew.Start([&pipeline, first, &cipher = ciphers[t]] { pipeline.Worker(first, cipher); });
    }
    if (status.ok()) status = pipeline.Writer(progress);
  }  // joins
  return status;
}

}  // namespace vhdcrypt
