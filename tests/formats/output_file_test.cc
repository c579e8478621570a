#include "formats/output_file.h"

#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <vector>

#include "tests/formats/temp_dir.h"

namespace vhdcrypt {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(OutputFile, NothingUnderTheFinalNameUntilCommit) {
  testing::TempDir dir;
  const std::string path = dir / "out.img";
  auto out = OutputFile::Create(path, false);
  ASSERT_TRUE(out.ok()) << out.error().message();
  const std::string data = "hello";
  ASSERT_TRUE(WriteFull((*out)->file(), 0, std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size())).ok());
  struct stat st;
  EXPECT_NE(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(::stat((*out)->temp_path().c_str(), &st), 0);
  EXPECT_EQ((*out)->temp_path().rfind(dir.path() + "/.out.img.vhdcrypt-", 0), 0u);
  // status recognises what an interrupted run leaves by this predicate.
  EXPECT_TRUE(IsOutputTempName((*out)->temp_path()));
  EXPECT_FALSE(IsOutputTempName(path));
  EXPECT_FALSE(IsOutputTempName(dir / ".vhdcrypt-abcdef"));
  EXPECT_FALSE(IsOutputTempName(dir / ".out.img.vhdcrypt-abc"));
  ASSERT_TRUE((*out)->Commit().ok());
  EXPECT_EQ(Slurp(path), "hello");
  EXPECT_EQ(dir.EntryCount(), 1u);
}

// Write-behind (PosixFile::EnableWriteBehind, on for every OutputFile): a big
// output written front to back, with writes elsewhere between (headers,
// tables), reads back exactly, and what lies well behind the write front is
// no longer in the page cache (it was written out and dropped).
TEST(OutputFile, WriteBehindKeepsEveryByteAndLeavesNoTrailInThePageCache) {
  testing::TempDir dir;
  const std::string path = dir / "big.img";
  auto out = OutputFile::Create(path, false);
  ASSERT_TRUE(out.ok()) << out.error().message();
  constexpr size_t kMiB = 1 << 20, kTotal = 160 * kMiB;
  std::vector<uint8_t> expect(kTotal);
  for (size_t i = 0; i < kTotal; ++i) expect[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  std::vector<uint8_t> header(4096, 0xa5);
  for (size_t off = kMiB; off < kTotal; off += kMiB) {
    ASSERT_TRUE(WriteFull((*out)->file(), off, std::span(expect).subspan(off, kMiB)).ok());
    if (off % (32 * kMiB) == 0) {  // a header write at the start breaks the run
      ASSERT_TRUE(WriteFull((*out)->file(), 0, header).ok());
    }
  }
  std::copy(header.begin(), header.end(), expect.begin());
  ASSERT_TRUE(
      WriteFull((*out)->file(), header.size(), std::span(expect).subspan(header.size(), kMiB - header.size())).ok());
  struct statfs fs;
  ASSERT_EQ(::statfs(dir.path().c_str(), &fs), 0);
  if (fs.f_type != TMPFS_MAGIC) {  // tmpfs pages cannot be dropped
    auto* fd_file = dynamic_cast<PosixFile*>(&(*out)->file());
    ASSERT_NE(fd_file, nullptr);
    void* map = ::mmap(nullptr, kTotal, PROT_READ, MAP_SHARED, fd_file->fd(), 0);
    ASSERT_NE(map, MAP_FAILED);
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    // [16 MiB, 80 MiB): more than the 64 MiB window behind the last write.
    std::vector<unsigned char> resident(64 * kMiB / page);
    ASSERT_EQ(::mincore(static_cast<uint8_t*>(map) + 16 * kMiB, 64 * kMiB, resident.data()), 0);
    size_t in_cache = 0;
    for (unsigned char r : resident) in_cache += r & 1;
    ::munmap(map, kTotal);
    EXPECT_LT(in_cache, resident.size() / 4) << in_cache << " of " << resident.size() << " pages still cached";
  }
  ASSERT_TRUE((*out)->Commit().ok());
  const std::string text = Slurp(path);
  const std::vector<uint8_t> got(text.begin(), text.end());
  ASSERT_EQ(got.size(), kTotal);
  const auto diff = std::mismatch(got.begin(), got.end(), expect.begin());
  EXPECT_TRUE(diff.first == got.end()) << "first difference at byte " << (diff.first - got.begin());
}

TEST(OutputFile, SecretFilesAre0600FromTheStart) {
  testing::TempDir dir;
  const mode_t old = ::umask(0);  // even a permissive umask does not widen it
  auto out = OutputFile::Create(dir / "passphrase", false, "", OutputMode::kSecret);
  ::umask(old);
  ASSERT_TRUE(out.ok());
  struct stat st;
  ASSERT_EQ(::stat((*out)->temp_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE((*out)->Commit().ok());
  ASSERT_EQ(::stat((dir / "passphrase").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(OutputFile, CommitDoesNotReplaceAFileThatAppearedMeanwhile) {
  testing::TempDir dir;
  const std::string path = dir / "out.img";
  auto out = OutputFile::Create(path, false);
  ASSERT_TRUE(out.ok());
  std::ofstream(path) << "someone else's";
  auto st = (*out)->Commit();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("appeared"), std::string::npos) << st.error().message();
  EXPECT_EQ(Slurp(path), "someone else's");
}

TEST(OutputFile, DroppedWithoutCommitLeavesNothing) {
  testing::TempDir dir;
  {
    auto out = OutputFile::Create(dir / "out.img", false);
    ASSERT_TRUE(out.ok());
  }
  EXPECT_EQ(dir.EntryCount(), 0u);
}

TEST(OutputFile, RefusesToReplaceWithoutOverwrite) {
  testing::TempDir dir;
  std::ofstream(dir / "out.img") << "keep";
  auto out = OutputFile::Create(dir / "out.img", false);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().kind(), ErrorKind::kUsage);
  EXPECT_NE(out.error().message().find("--force"), std::string::npos);
  EXPECT_EQ(Slurp(dir / "out.img"), "keep");
  EXPECT_EQ(dir.EntryCount(), 1u);
}

TEST(OutputFile, ReplacesWithOverwrite) {
  testing::TempDir dir;
  std::ofstream(dir / "out.img") << "old";
  auto out = OutputFile::Create(dir / "out.img", true);
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(WriteFull((*out)->file(), 0, std::vector<uint8_t>{'n', 'e', 'w', '!'}).ok());
  EXPECT_EQ(Slurp(dir / "out.img"), "old");  // untouched until commit
  ASSERT_TRUE((*out)->Commit().ok());
  EXPECT_EQ(Slurp(dir / "out.img"), "new!");
}

TEST(OutputFile, NeverReplacesTheInput) {
  testing::TempDir dir;
  std::ofstream(dir / "in.img") << "input";
  ::symlink((dir / "in.img").c_str(), (dir / "alias.img").c_str());
  auto out = OutputFile::Create(dir / "alias.img", true, dir / "in.img");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().message().find("is the input"), std::string::npos);
  EXPECT_EQ(Slurp(dir / "in.img"), "input");
}

TEST(OutputFile, MissingDirectoryIsAnIoError) {
  testing::TempDir dir;
  auto out = OutputFile::Create(dir / "no/such/dir/out.img", false);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().kind(), ErrorKind::kIo);
}

std::unique_ptr<OutputFile> Made(const std::string& path, const std::string& text, bool overwrite = false) {
  auto out = OutputFile::Create(path, overwrite);
  EXPECT_TRUE(out.ok()) << out.error().message();
  EXPECT_TRUE(WriteFull((*out)->file(), 0, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size())).ok());
  return std::move(*out);
}

TEST(CommitAll, AllOrNothing) {
  testing::TempDir dir;
  auto key = Made(dir / "passphrase", "key");
  auto image = Made(dir / "disk.vhd", "image");
  auto manifest = Made(dir / "manifest.json", "{}");
  std::ofstream(dir / "manifest.json") << "someone else's";  // appears while the run writes
  std::vector<OutputFile*> all = {key.get(), image.get(), manifest.get()};
  auto st = CommitAll(all);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("manifest.json: appeared"), std::string::npos) << st.error().message();
  // The two renames before the failing one were undone.
  EXPECT_FALSE(std::filesystem::exists(dir / "passphrase"));
  EXPECT_FALSE(std::filesystem::exists(dir / "disk.vhd"));
  EXPECT_EQ(Slurp(dir / "manifest.json"), "someone else's");
  key.reset();
  image.reset();
  manifest.reset();
  EXPECT_EQ(dir.EntryCount(), 1u);  // no temporary left either
}

TEST(CommitAll, AFailedCommitPutsReplacedFilesBack) {
  testing::TempDir dir;
  std::ofstream(dir / "a") << "old a";
  auto a = Made(dir / "a", "new a", true);
  auto b = Made(dir / "b", "new b");
  std::ofstream(dir / "b") << "appeared";
  std::vector<OutputFile*> all = {a.get(), b.get()};
  ASSERT_FALSE(CommitAll(all).ok());
  EXPECT_EQ(Slurp(dir / "a"), "old a");
  a.reset();
  b.reset();
  EXPECT_EQ(dir.EntryCount(), 2u);
  // And when it succeeds, the replaced file is gone for good.
  auto a2 = Made(dir / "a", "newer a", true);
  std::vector<OutputFile*> one = {a2.get()};
  ASSERT_TRUE(CommitAll(one).ok());
  EXPECT_EQ(Slurp(dir / "a"), "newer a");
  EXPECT_EQ(dir.EntryCount(), 2u);
}

// The signal handler once had 16 slots: the 17th output's temporary (the
// passphrase, with 16 data disks) outlived SIGTERM.
TEST(OutputFile, ASignalRemovesEveryTemporaryHoweverMany) {
  testing::TempDir dir;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    InstallCleanupSignalHandlers();
    std::vector<std::unique_ptr<OutputFile>> outs;
    for (int i = 0; i < 40; ++i) outs.push_back(Made(dir / ("disk" + std::to_string(i) + ".vhd"), "x"));
    auto committed = Made(dir / "committed", "x");
    (void)committed->Commit();
    ::raise(SIGTERM);
    ::_exit(0);  // not reached
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_EQ(dir.EntryCount(), 1u);  // only what was committed
  EXPECT_TRUE(std::filesystem::exists(dir / "committed"));
}

TEST(OutputFile, TemporariesNameTheirRun) {
  testing::TempDir dir;
  auto out = Made(dir / "disk.vhd", "x");
  EXPECT_EQ(OutputTempOwner(out->temp_path()), ::getpid());
  EXPECT_TRUE(IsOutputTempName(dir / ".disk.vhd.vhdcrypt-abc123"));  // before the PID was in the name
  EXPECT_EQ(OutputTempOwner(dir / ".disk.vhd.vhdcrypt-abc123"), std::nullopt);
  EXPECT_FALSE(IsOutputTempName(dir / ".disk.vhd.vhdcrypt-12x-abc123"));
  EXPECT_FALSE(IsOutputTempName(dir / ".disk.vhd.vhdcrypt--abc123"));
}

TEST(RemoveDeadRunTemporaries, OnlyThoseOfRunsThatAreGone) {
  testing::TempDir dir;
  const pid_t dead = ::fork();  // a PID that is certainly gone once reaped
  ASSERT_GE(dead, 0);
  if (dead == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);
  const std::string tag = ".vhdcrypt-" + std::to_string(dead) + "-Ab12Cd";
  std::ofstream(dir / (".passphrase" + tag)) << "secret";
  std::ofstream(dir / (".disk.vhd" + tag)) << "image";
  std::ofstream(dir / (".other.vhd.vhdcrypt-1-Ab12Cd")) << "init's: alive";
  std::ofstream(dir / "disk.vhd") << "a final name";
  auto live = Made(dir / "mine.vhd", "this run's");
  auto removed = RemoveDeadRunTemporaries(dir.path());
  ASSERT_TRUE(removed.ok()) << removed.error().message();
  std::sort(removed->begin(), removed->end());
  EXPECT_EQ(*removed, (std::vector<std::string>{".disk.vhd" + tag, ".passphrase" + tag}));
  EXPECT_TRUE(std::filesystem::exists(live->temp_path()));
  EXPECT_TRUE(std::filesystem::exists(dir / "disk.vhd"));
  EXPECT_TRUE(std::filesystem::exists(dir / ".other.vhd.vhdcrypt-1-Ab12Cd"));
}

}  // namespace
}  // namespace vhdcrypt
