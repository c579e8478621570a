#include "formats/output_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

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
  EXPECT_FALSE(IsOutputTempName(dir / ".out.img.vhdcrypt-abc"));
  ASSERT_TRUE((*out)->Commit().ok());
  EXPECT_EQ(Slurp(path), "hello");
  EXPECT_EQ(dir.EntryCount(), 1u);
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

}  // namespace
}  // namespace vhdcrypt
