#include "src/crypto/engine.h"

#include <gtest/gtest.h>
#include <libcryptsetup.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tests/formats/temp_dir.h"
#include "tests/tools.h"

namespace vhdcrypt {
namespace {

using Bytes = std::vector<uint8_t>;
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * 1024;

Bytes RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<uint8_t>(rng());
  return out;
}

Bytes TestKey(uint64_t seed = 42) { return RandomBytes(64, seed); }

// One XTS data unit through EVP, apart from XtsCipher and the engine.
Bytes XtsUnit(const Bytes& key, uint64_t tweak, std::span<const uint8_t> in, bool encrypt) {
  uint8_t iv[16] = {};
  for (int i = 0; i < 8; ++i) iv[i] = static_cast<uint8_t>(tweak >> (8 * i));
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Bytes out(in.size());
  int n = 0;
  EXPECT_EQ(EVP_CipherInit_ex2(ctx, EVP_aes_256_xts(), key.data(), iv, encrypt ? 1 : 0, nullptr), 1);
  EXPECT_EQ(EVP_CipherUpdate(ctx, out.data(), &n, in.data(), static_cast<int>(in.size())), 1);
  EVP_CIPHER_CTX_free(ctx);
  return out;
}

// A whole volume, one sector at a time: sector k of sector_size bytes has
// tweak k * sector_size / 512 (plain64 counts 512-byte sectors).
Bytes ReferenceXts(const Bytes& key, uint32_t sector_size, std::span<const uint8_t> in, bool encrypt) {
  Bytes out;
  out.reserve(in.size());
  for (size_t pos = 0; pos < in.size(); pos += sector_size) {
    const Bytes unit = XtsUnit(key, pos / 512, in.subspan(pos, sector_size), encrypt);
    out.insert(out.end(), unit.begin(), unit.end());
  }
  return out;
}

std::unique_ptr<Image> MemImage(const std::string& name, Bytes bytes) {
  auto r = RawImage::Open(std::make_unique<MemFile>(name, std::move(bytes)));
  EXPECT_TRUE(r.ok());
  return std::move(r).value();
}

// A raw output disk in memory.
struct MemDisk {
  explicit MemDisk(uint64_t size) : file("out.img") {
    auto w = MakeWriter(ContainerKind::kRaw, file, size, {});
    EXPECT_TRUE(w.ok());
    writer = std::move(w).value();
  }
  const Bytes& Finish() {
    EXPECT_TRUE(writer->Finish().ok());
    return file.data();
  }
  MemFile file;
  std::unique_ptr<ImageWriter> writer;
};

struct Layout {
  uint32_t sector_size;
  uint64_t source_size;
  uint64_t source_offset;
  uint64_t length;
  uint64_t out_size;
  uint64_t out_offset;
};

// Lengths that are no multiple of any chunk size, offsets that are not
// multiples of 4096 (only the data segment's own numbering sets the tweak).
const Layout kLayouts[] = {
    {4096, 4 * kMiB, 33 * 512, 2 * kMiB + 5 * 4096, 4 * kMiB, 1 * kMiB + 7 * 512},
    {512, 4 * kMiB, 8 * 512, 2 * kMiB + 5 * 4096 + 3 * 512, 5 * kMiB, 2 * kMiB + 512},
};

TEST(Engine, SameOutputForEveryThreadCountAndChunkSizeAndItIsPlain64Xts) {
  const Bytes key = TestKey();
  for (const Layout& l : kLayouts) {
    const Bytes source = RandomBytes(l.source_size, l.sector_size);
    const Bytes volume(source.begin() + l.source_offset, source.begin() + l.source_offset + l.length);
    Bytes expected(l.out_size, 0);
    const Bytes cipher = ReferenceXts(key, l.sector_size, volume, true);
    std::copy(cipher.begin(), cipher.end(), expected.begin() + l.out_offset);

    for (unsigned threads : {1u, 2u, 3u, 8u}) {
      for (size_t chunk : {4 * kKiB, 8 * kKiB, 12 * kKiB, 64 * kKiB, 1 * kMiB}) {
        SCOPED_TRACE("sector " + std::to_string(l.sector_size) + ", threads " + std::to_string(threads) + ", chunk " +
                     std::to_string(chunk));
        auto image = MemImage("src.img", source);
        MemDisk out(l.out_size);
        VolumeJob job{image.get(), l.source_offset, l.length,           out.writer.get(), l.out_offset,
                      key,         l.sector_size,   Direction::kEncrypt};
        std::vector<std::pair<uint64_t, uint64_t>> calls;
        Status s = RunVolumeJob(job, {threads, chunk},
                                [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); });
        ASSERT_TRUE(s.ok()) << s.error().message();
        ASSERT_TRUE(out.Finish() == expected);
        ASSERT_EQ(calls.size(), (l.length + chunk - 1) / chunk);
        for (size_t i = 0; i < calls.size(); ++i) {
          EXPECT_EQ(calls[i].first, std::min<uint64_t>((i + 1) * chunk, l.length));
          EXPECT_EQ(calls[i].second, l.length);
        }
      }
    }
  }
}

// With job.only: those ranges come out exactly as in a whole-volume run (the
// tweak counts from the volume's start), the rest of the output is never
// written, and the progress counts the ranges' bytes. Ranges smaller than a
// chunk, spanning several, and touching the volume's last sector.
TEST(Engine, OnlyTheGivenRangesAreTransformedAndWritten) {
  const Bytes key = TestKey();
  for (const Layout& l : kLayouts) {
    const Bytes source = RandomBytes(l.source_size, l.sector_size + 1);
    const Bytes volume(source.begin() + l.source_offset, source.begin() + l.source_offset + l.length);
    const Bytes cipher = ReferenceXts(key, l.sector_size, volume, true);
    const uint64_t s = l.sector_size;
    const std::vector<Extent> only{{0, s}, {3 * s, 2 * s}, {20 * s, 300 * s}, {l.length - 2 * s, 2 * s}};
    Bytes expected(l.out_size, 0);
    uint64_t total = 0;
    for (const Extent& e : only) {
      std::copy(cipher.begin() + e.offset, cipher.begin() + e.end(), expected.begin() + l.out_offset + e.offset);
      total += e.length;
    }
    for (unsigned threads : {1u, 3u}) {
      for (size_t chunk : {4 * kKiB, 64 * kKiB}) {
        SCOPED_TRACE("sector " + std::to_string(s) + ", threads " + std::to_string(threads) + ", chunk " +
                     std::to_string(chunk));
        auto image = MemImage("src.img", source);
        MemDisk out(l.out_size);
        VolumeJob job{image.get(), l.source_offset, l.length,           out.writer.get(), l.out_offset,
                      key,         l.sector_size,   Direction::kEncrypt};
        job.only = &only;
        uint64_t last_done = 0, last_total = 0;
        Status st = RunVolumeJob(job, {threads, chunk}, [&](uint64_t done, uint64_t all) {
          EXPECT_GT(done, last_done);
          last_done = done;
          last_total = all;
        });
        ASSERT_TRUE(st.ok()) << st.error().message();
        ASSERT_TRUE(out.Finish() == expected);
        EXPECT_EQ(last_done, total);
        EXPECT_EQ(last_total, total);
      }
    }
  }
}

TEST(Engine, DecryptRestoresTheOriginal) {
  const Bytes key = TestKey(7);
  for (const Layout& l : kLayouts) {
    SCOPED_TRACE(l.sector_size);
    const Bytes source = RandomBytes(l.source_size, 100 + l.sector_size);
    auto image = MemImage("src.img", source);
    MemDisk encrypted(l.out_size);
    VolumeJob job{image.get(), l.source_offset, l.length,           encrypted.writer.get(), l.out_offset,
                  key,         l.sector_size,   Direction::kEncrypt};
    ASSERT_TRUE(RunVolumeJob(job, {3, 64 * kKiB}).ok());
    const Bytes& cipher = encrypted.Finish();
    EXPECT_FALSE(std::equal(source.begin() + l.source_offset, source.begin() + l.source_offset + 4096,
                            cipher.begin() + l.out_offset));

    auto back_in = MemImage("enc.img", cipher);
    MemDisk plain(l.length);
    VolumeJob back{back_in.get(), l.out_offset,  l.length,           plain.writer.get(), 0,
                   key,           l.sector_size, Direction::kDecrypt};
    ASSERT_TRUE(RunVolumeJob(back, {2, 1 * kMiB}).ok());
    const Bytes& restored = plain.Finish();
    ASSERT_TRUE(std::equal(restored.begin(), restored.end(), source.begin() + l.source_offset));
  }
}

// Deploy's pass: a volume encrypted with one key becomes, in one job, the
// volume encrypted with another, the same as encrypting the plaintext with
// the second key; with `only`, the ranges outside it are left unwritten.
TEST(Engine, ReencryptsFromOneKeyToAnother) {
  const Bytes golden_key = TestKey(7);
  const Bytes new_key = TestKey(8);
  for (const Layout& l : kLayouts) {
    SCOPED_TRACE(l.sector_size);
    const Bytes plain = RandomBytes(l.length, 300 + l.sector_size);
    const Bytes golden = ReferenceXts(golden_key, l.sector_size, plain, true);
    Bytes source(l.source_size, 0);
    std::copy(golden.begin(), golden.end(), source.begin() + l.source_offset);
    auto image = MemImage("golden.img", source);
    for (unsigned threads : {1u, 3u}) {
      MemDisk out(l.out_size);
      VolumeJob job{image.get(),  l.source_offset, l.length,      out.writer.get(),
                    l.out_offset, new_key,         l.sector_size, Direction::kEncrypt};
      job.source_key = golden_key;
      ASSERT_TRUE(RunVolumeJob(job, {threads, 64 * kKiB}).ok());
      const Bytes& written = out.Finish();
      const Bytes expected = ReferenceXts(new_key, l.sector_size, plain, true);
      ASSERT_TRUE(std::equal(expected.begin(), expected.end(), written.begin() + l.out_offset));
    }
    const std::vector<Extent> only{{l.sector_size, 2ull * l.sector_size}};
    MemDisk part(l.out_size);
    VolumeJob job{image.get(),  l.source_offset, l.length,      part.writer.get(),
                  l.out_offset, new_key,         l.sector_size, Direction::kEncrypt};
    job.source_key = golden_key;
    job.only = &only;
    ASSERT_TRUE(RunVolumeJob(job, {2, 64 * kKiB}).ok());
    const Bytes& written = part.Finish();
    const Bytes expected = ReferenceXts(new_key, l.sector_size, plain, true);
    const uint64_t at = l.out_offset + l.sector_size;
    EXPECT_TRUE(
        std::equal(expected.begin() + l.sector_size, expected.begin() + 3 * l.sector_size, written.begin() + at));
    EXPECT_TRUE(std::all_of(written.begin() + l.out_offset, written.begin() + at, [](uint8_t b) { return b == 0; }));
  }
}

TEST(Engine, ZerosAreEncryptedToo) {
  const Bytes key = TestKey();
  auto image = MemImage("zero.img", Bytes(256 * kKiB, 0));
  MemDisk out(256 * kKiB);
  VolumeJob job{image.get(), 0, 256 * kKiB, out.writer.get(), 0, key, 4096, Direction::kEncrypt};
  ASSERT_TRUE(RunVolumeJob(job, {2, 16 * kKiB}).ok());
  const Bytes& data = out.Finish();
  size_t zero_sectors = 0;
  for (size_t pos = 0; pos < data.size(); pos += 4096) {
    zero_sectors += std::all_of(data.begin() + pos, data.begin() + pos + 4096, [](uint8_t b) { return b == 0; });
  }
  EXPECT_EQ(zero_sectors, 0u);
  EXPECT_EQ(data, ReferenceXts(key, 4096, Bytes(256 * kKiB, 0), true));
}

TEST(Engine, DefaultThreadCountAndAVolumeSmallerThanOneChunk) {
  const Bytes key = TestKey();
  const Bytes source = RandomBytes(64 * kKiB, 3);
  auto image = MemImage("src.img", source);
  MemDisk out(64 * kKiB);
  VolumeJob job{image.get(), 4096, 3 * 512, out.writer.get(), 8192, key, 512, Direction::kEncrypt};
  ASSERT_TRUE(RunVolumeJob(job, {}).ok());
  const Bytes& data = out.Finish();
  const Bytes ref = ReferenceXts(key, 512, std::span(source).subspan(4096, 3 * 512), true);
  EXPECT_TRUE(std::equal(ref.begin(), ref.end(), data.begin() + 8192));
  EXPECT_TRUE(std::all_of(data.begin(), data.begin() + 8192, [](uint8_t b) { return b == 0; }));
  EXPECT_TRUE(std::all_of(data.begin() + 8192 + 3 * 512, data.end(), [](uint8_t b) { return b == 0; }));
}

TEST(Engine, EmptyVolumeWritesNothing) {
  auto image = MemImage("src.img", Bytes(4096, 1));
  MemDisk out(4096);
  const Bytes key = TestKey();
  VolumeJob job{image.get(), 0, 0, out.writer.get(), 0, key, 512, Direction::kEncrypt};
  ASSERT_TRUE(RunVolumeJob(job, {}).ok());
  EXPECT_TRUE(out.file.data().empty());
}

// An image whose reads fail from a given offset on, and that counts reads.
class FailingImage : public Image {
 public:
  FailingImage(uint64_t size, uint64_t fail_from) : data_(RandomBytes(size, 5)), fail_from_(fail_from) {}
  const std::string& path() const override { return path_; }
  ContainerKind kind() const override { return ContainerKind::kRaw; }
  uint64_t virtual_size() const override { return data_.size(); }
  Status ReadAt(uint64_t offset, std::span<uint8_t> buf) override {
    reads.fetch_add(1);
    if (offset + buf.size() > fail_from_) {
      return IoError(path_ + ": read at offset " + FormatOffset(offset) + " failed: Input/output error");
    }
    std::memcpy(buf.data(), data_.data() + offset, buf.size());
    return {};
  }
  Result<std::vector<Extent>> AllocatedExtents() override { return std::vector<Extent>{{0, data_.size()}}; }

  std::atomic<int> reads{0};

 private:
  std::string path_ = "bad.img";
  Bytes data_;
  uint64_t fail_from_;
};

// A writer that records the writes it takes and fails the Nth (from 0).
class FailingWriter : public ImageWriter {
 public:
  FailingWriter(uint64_t size, int fail_at) : size_(size), fail_at_(fail_at) {}
  uint64_t virtual_size() const override { return size_; }
  Status Write(uint64_t offset, std::span<const uint8_t> data) override {
    if (static_cast<int>(offsets.size()) == fail_at_) {
      return IoError("out.img: write at offset " + FormatOffset(offset) + " failed: No space left on device");
    }
    offsets.push_back(offset);
    sizes.push_back(data.size());
    return {};
  }
  Status Finish() override { return {}; }

  std::vector<uint64_t> offsets;
  std::vector<size_t> sizes;

 private:
  uint64_t size_;
  int fail_at_;
};

TEST(Engine, ReadErrorIsReturnedAndNothingPastItIsWritten) {
  const Bytes key = TestKey();
  const uint64_t chunk = 64 * kKiB;
  for (unsigned threads : {1u, 2u, 8u}) {
    for (uint64_t fail_chunk : {0u, 1u, 5u, 15u}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + ", failing chunk " + std::to_string(fail_chunk));
      FailingImage image(1 * kMiB, fail_chunk * chunk + 100);
      FailingWriter out(1 * kMiB, -1);
      VolumeJob job{&image, 0, 1 * kMiB, &out, 0, key, 4096, Direction::kEncrypt};
      Status s = RunVolumeJob(job, {threads, chunk});
      ASSERT_FALSE(s.ok());
      EXPECT_EQ(s.error().kind(), ErrorKind::kIo);
      EXPECT_EQ(s.error().message(),
                "bad.img: read at offset " + FormatOffset(fail_chunk * chunk) + " failed: Input/output error");
      // Chunks are written in order, and only the ones before the bad read.
      ASSERT_LE(out.offsets.size(), fail_chunk);
      for (size_t i = 0; i < out.offsets.size(); ++i) EXPECT_EQ(out.offsets[i], i * chunk);
      EXPECT_EQ(image.reads.load(), static_cast<int>(fail_chunk) + 1);  // the reader stops at the bad chunk
    }
  }
}

TEST(Engine, WriteErrorIsReturnedAndTheReaderStops) {
  const Bytes key = TestKey();
  const uint64_t chunk = 16 * kKiB;
  const uint64_t size = 4 * kMiB;  // 256 chunks
  for (unsigned threads : {1u, 2u, 8u}) {
    for (int fail_at : {0, 1, 10}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + ", failing write " + std::to_string(fail_at));
      FailingImage image(size, UINT64_MAX);
      FailingWriter out(size, fail_at);
      VolumeJob job{&image, 0, size, &out, 0, key, 512, Direction::kEncrypt};
      Status s = RunVolumeJob(job, {threads, chunk});
      ASSERT_FALSE(s.ok());
      EXPECT_EQ(s.error().kind(), ErrorKind::kIo);
      EXPECT_EQ(s.error().message(),
                "out.img: write at offset " + FormatOffset(fail_at * chunk) + " failed: No space left on device");
      EXPECT_EQ(out.offsets.size(), static_cast<size_t>(fail_at));
      // The reader is at most 2 * threads + 2 chunks ahead of the writer, so
      // it stopped long before the end of the volume.
      EXPECT_LE(image.reads.load(), fail_at + 1 + static_cast<int>(2 * threads + 2));
    }
  }
}

// The reader never runs more than 2 * threads + 2 chunks ahead of the
// writer, however slow the writer is.
class SlowWriter : public ImageWriter {
 public:
  SlowWriter(uint64_t size, std::atomic<int>& reads) : size_(size), reads_(reads) {}
  uint64_t virtual_size() const override { return size_; }
  Status Write(uint64_t, std::span<const uint8_t>) override {
    max_ahead = std::max(max_ahead, reads_.load() - writes);
    ::usleep(2000);
    ++writes;
    return {};
  }
  Status Finish() override { return {}; }
  int writes = 0;
  int max_ahead = 0;

 private:
  uint64_t size_;
  std::atomic<int>& reads_;
};

TEST(Engine, ChunksInFlightAreBounded) {
  const Bytes key = TestKey();
  for (unsigned threads : {1u, 3u}) {
    FailingImage image(1 * kMiB, UINT64_MAX);
    SlowWriter out(1 * kMiB, image.reads);
    VolumeJob job{&image, 0, 1 * kMiB, &out, 0, key, 4096, Direction::kEncrypt};
    ASSERT_TRUE(RunVolumeJob(job, {threads, 16 * kKiB}).ok());
    EXPECT_EQ(out.writes, 64);
    EXPECT_LE(out.max_ahead, static_cast<int>(2 * threads + 2)) << threads;
    EXPECT_GE(out.max_ahead, 2) << "the reader should run ahead of a slow writer";
  }
}

TEST(Engine, RefusesBadJobsBeforeTouchingAnything) {
  const Bytes key = TestKey();
  FailingImage image(1 * kMiB, UINT64_MAX);
  FailingWriter out(1 * kMiB, -1);
  const VolumeJob good{&image, 0, 512 * kKiB, &out, 0, key, 4096, Direction::kEncrypt};
  ASSERT_TRUE(RunVolumeJob(good, {}).ok());
  image.reads = 0;
  out.offsets.clear();

  struct Case {
    const char* what;
    VolumeJob job;
    EngineOptions options;
    const char* message_part;
  };
  const Bytes short_key(32 + 16, 1);
  const Bytes equal_key(64, 9);
  const std::vector<Extent> past{{0, 4096}, {508 * kKiB, 8 * kKiB}};
  const std::vector<Extent> unsorted{{8192, 4096}, {0, 4096}};
  const std::vector<Extent> partial{{4096, 512}};
  const std::vector<Extent> empty{{4096, 0}};
  auto with = [&](auto change) {
    VolumeJob j = good;
    change(j);
    return j;
  };
  const Case cases[] = {
      {"null source", with([](VolumeJob& j) { j.source = nullptr; }), {}, "no source"},
      {"null output", with([](VolumeJob& j) { j.out = nullptr; }), {}, "no output"},
      {"sector size", with([](VolumeJob& j) { j.sector_size = 1024; }), {}, "1024"},
      {"partial sector", with([](VolumeJob& j) { j.length = 4096 + 512; }), {}, "4608"},
      {"source offset", with([](VolumeJob& j) { j.source_offset = 100; }), {}, "bad.img"},
      {"out offset", with([](VolumeJob& j) { j.out_offset = 4097; }), {}, "0x1001"},
      {"job past the source", with([](VolumeJob& j) { j.source_offset = 512 * kKiB + 4096; }), {}, "bad.img"},
      {"job larger than the source", with([](VolumeJob& j) { j.length = 1 * kMiB + 4096; }), {}, "bad.img"},
      {"job past the output", with([](VolumeJob& j) { j.out_offset = 600 * kKiB; }), {}, "output disk"},
      {"offset overflow", with([](VolumeJob& j) { j.source_offset = UINT64_MAX - 511; }), {}, "runs past"},
      {"short key", with([&](VolumeJob& j) { j.key = short_key; }), {}, "48 bytes"},
      {"no key", with([](VolumeJob& j) { j.key = {}; }), {}, "0 bytes"},
      {"equal key halves", with([&](VolumeJob& j) { j.key = equal_key; }), {}, "halves"},
      {"zero chunk", good, {1, 0}, "chunk size 0"},
      {"odd chunk", good, {1, 6144}, "chunk size 6144"},
      {"huge chunk", good, {1, size_t{1} << 40}, "chunk size"},
      {"too many threads", good, {100000, 4096}, "100000"},
      {"range past the volume", with([&](VolumeJob& j) { j.only = &past; }), {}, "outside the volume"},
      {"ranges out of order", with([&](VolumeJob& j) { j.only = &unsorted; }), {}, "out of order"},
      {"range of part of a sector", with([&](VolumeJob& j) { j.only = &partial; }), {}, "4096-byte sectors"},
      {"empty range", with([&](VolumeJob& j) { j.only = &empty; }), {}, "is empty"},
      {"re-encryption that decrypts",
       with([&](VolumeJob& j) {
         j.source_key = key;
         j.direction = Direction::kDecrypt;
       }),
       {},
       "only when it encrypts"},
      {"bad source key", with([&](VolumeJob& j) { j.source_key = short_key; }), {}, "48 bytes"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Status s = RunVolumeJob(c.job, c.options);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().kind(), ErrorKind::kUsage);
    EXPECT_NE(s.error().message().find(c.message_part), std::string::npos) << s.error().message();
  }
  EXPECT_EQ(image.reads.load(), 0);
  EXPECT_TRUE(out.offsets.empty());
}

// ---------------------------------------------------------------------------
// Cross-check with cryptsetup itself: it encrypts a file in place offline
// (reencrypt --encrypt moves the data up by the header size and shortens the
// volume by --reduce-device-size), libcryptsetup hands over the volume key,
// and the engine must decrypt the data segment back to the original bytes.

std::string Cryptsetup() { return testing::FindTool("cryptsetup"); }

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult RunCommand(const std::vector<std::string>& args) {
  CommandResult r;
  int pipefd[2];
  if (::pipe(pipefd) != 0) return r;
  std::vector<char*> argv;
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    ::dup2(pipefd[1], 2);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) r.output.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

void WriteFile(const std::string& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

struct LuksVolume {
  Bytes key;
  uint64_t data_offset = 0;  // bytes
  uint32_t sector_size = 0;
  std::string cipher;
};

// The volume key and layout, from libcryptsetup.
LuksVolume LoadLuks(const std::string& path, const std::string& passphrase) {
  LuksVolume v;
  crypt_device* cd = nullptr;
  if (crypt_init(&cd, path.c_str()) != 0) {
    ADD_FAILURE() << "crypt_init " << path;
    return v;
  }
  int r = crypt_load(cd, CRYPT_LUKS2, nullptr);
  EXPECT_EQ(r, 0) << "crypt_load";
  if (r == 0) {
    v.key.resize(static_cast<size_t>(crypt_get_volume_key_size(cd)));
    size_t key_size = v.key.size();
    r = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, reinterpret_cast<char*>(v.key.data()), &key_size, passphrase.data(),
                             passphrase.size());
    EXPECT_GE(r, 0) << "crypt_volume_key_get";
    v.key.resize(key_size);
    v.data_offset = crypt_get_data_offset(cd) * 512;  // libcryptsetup counts 512-byte sectors
    v.sector_size = static_cast<uint32_t>(crypt_get_sector_size(cd));
    v.cipher = std::string(crypt_get_cipher(cd)) + "-" + crypt_get_cipher_mode(cd);
  }
  crypt_free(cd);
  return v;
}

class CryptsetupCrossCheck : public ::testing::TestWithParam<uint32_t> {};

TEST_P(CryptsetupCrossCheck, EngineDecryptsWhatCryptsetupEncrypted) {
  const std::string cryptsetup = Cryptsetup();
  if (cryptsetup.empty()) GTEST_SKIP() << "cryptsetup (cryptsetup-bin) not installed";
  const uint32_t sector_size = GetParam();
  testing::TempDir dir;
  const std::string image = dir / "disk.img";
  const std::string keyfile = dir / "passphrase";
  const std::string passphrase = "correct horse battery staple";
  const uint64_t file_size = 12 * kMiB;
  const uint64_t reduce = 8 * kMiB;
  const Bytes original = RandomBytes(file_size, 2024 + sector_size);
  WriteFile(image, original);
  WriteFile(keyfile, Bytes(passphrase.begin(), passphrase.end()));

  CommandResult run = RunCommand({cryptsetup,
                                  "reencrypt",
                                  "--encrypt",
                                  "--type",
                                  "luks2",
                                  "--cipher",
                                  "aes-xts-plain64",
                                  "--key-size",
                                  "512",
                                  "--reduce-device-size",
                                  std::to_string(reduce / kMiB) + "M",
                                  "--sector-size",
                                  std::to_string(sector_size),
                                  "--pbkdf",
                                  "pbkdf2",
                                  "--pbkdf-force-iterations",
                                  "1000",
                                  "--batch-mode",
                                  "--key-file",
                                  keyfile,
                                  image});
  ASSERT_EQ(run.exit_code, 0) << run.output;

  LuksVolume luks = LoadLuks(image, passphrase);
  ASSERT_EQ(luks.key.size(), 64u);
  EXPECT_EQ(luks.cipher, "aes-xts-plain64");
  EXPECT_EQ(luks.sector_size, sector_size);
  ASSERT_EQ(std::filesystem::file_size(image), file_size);
  // The header takes half of the reduction; the volume's original first
  // file_size - reduce bytes now start at the data offset.
  ASSERT_GT(luks.data_offset, 0u);
  ASSERT_LE(luks.data_offset + (file_size - reduce), file_size);
  const uint64_t kept = file_size - reduce;

  auto file = OpenReadOnly(image);
  ASSERT_TRUE(file.ok()) << file.error().message();
  auto img = RawImage::Open(std::move(*file));
  ASSERT_TRUE(img.ok());
  const uint64_t segment = file_size - luks.data_offset;
  MemDisk plain(segment);
  VolumeJob job{img->get(), luks.data_offset, segment,     plain.writer.get(),
                0,          luks.key,         sector_size, Direction::kDecrypt};
  Status s = RunVolumeJob(job, {2, 256 * kKiB});
  ASSERT_TRUE(s.ok()) << s.error().message();
  const Bytes& data = plain.Finish();
  ASSERT_EQ(data.size(), segment);
  EXPECT_TRUE(std::equal(data.begin(), data.begin() + kept, original.begin()))
      << "the decrypted data segment does not start with the original volume";

  // The check can fail. Tweaks counted in 4096-byte sectors (dm-crypt's
  // iv_large_sectors, which LUKS2 does not set) give garbage from sector 1 on.
  if (sector_size == 4096) {
    Bytes head(8 * 4096);
    ASSERT_TRUE((*img)->ReadAt(luks.data_offset, head).ok());
    for (uint64_t k = 1; k < 8; ++k) {
      const Bytes out = XtsUnit(luks.key, k, std::span(head).subspan(k * 4096, 4096), false);
      EXPECT_FALSE(std::equal(out.begin(), out.end(), original.begin() + k * 4096)) << k;
    }
  }
  // And so does a wrong key.
  Bytes other_key = luks.key;
  other_key[0] ^= 1;
  MemDisk garbage(segment);
  VolumeJob wrong_key{img->get(), luks.data_offset, kept,        garbage.writer.get(),
                      0,          other_key,        sector_size, Direction::kDecrypt};
  ASSERT_TRUE(RunVolumeJob(wrong_key, {1, 1 * kMiB}).ok());
  EXPECT_FALSE(std::equal(original.begin(), original.begin() + 4096, garbage.Finish().begin()));
  OPENSSL_cleanse(luks.key.data(), luks.key.size());
}

INSTANTIATE_TEST_SUITE_P(SectorSizes, CryptsetupCrossCheck, ::testing::Values(512u, 4096u),
                         [](const ::testing::TestParamInfo<uint32_t>& p) {
                           return "Sector" + std::to_string(p.param);
                         });

}  // namespace
}  // namespace vhdcrypt
