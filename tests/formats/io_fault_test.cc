// The parsers and writers under short reads, EIO and ENOSPC.
#include <gtest/gtest.h>

#include "formats/copy.h"
#include "formats/image.h"
#include "formats/writer.h"
#include "tests/formats/fault_file.h"
#include "tests/formats/malformed_case.h"

namespace vhdcrypt {
namespace {

using testing::FaultFile;

std::vector<uint8_t> ReadAll(Image& img) {
  std::vector<uint8_t> all(img.virtual_size());
  EXPECT_TRUE(img.ReadAt(0, all).ok());
  return all;
}

TEST(IoFaults, ShortReadsGiveTheSameContent) {
  for (auto bytes : {testing::ValidFixedVhd(), testing::ValidDynamicVhd()}) {
    auto normal = OpenImage(std::make_unique<MemFile>("a.vhd", bytes), FormatHint::kAuto);
    ASSERT_TRUE(normal.ok());
    auto f = std::make_unique<FaultFile>("b.vhd", bytes);
    f->max_io = 7;  // odd-sized pieces, never aligned
    auto* raw = f.get();
    auto shorty = OpenImage(std::move(f), FormatHint::kAuto);
    ASSERT_TRUE(shorty.ok()) << shorty.error().message();
    EXPECT_EQ(ReadAll(**shorty), ReadAll(**normal));
    EXPECT_GT(raw->reads, 1000);  // really went through many short reads
  }
}

TEST(IoFaults, EioWhileReadingTheBatIsAnIoError) {
  auto f = std::make_unique<FaultFile>("eio.vhd", testing::ValidDynamicVhd());
  f->eio_from = 1536;  // the BAT
  f->eio_to = 1540;
  auto img = OpenImage(std::move(f), FormatHint::kAuto);
  ASSERT_FALSE(img.ok());
  EXPECT_EQ(img.error().kind(), ErrorKind::kIo);
  EXPECT_NE(img.error().message().find("eio.vhd"), std::string::npos);
  EXPECT_NE(img.error().message().find("Input/output error"), std::string::npos);
}

TEST(IoFaults, EioInBlockDataFailsTheRead) {
  auto f = std::make_unique<FaultFile>("eio.vhd", testing::ValidDynamicVhd());
  f->eio_from = 2048 + 512 + 100000;  // inside block 0's data
  f->eio_to = f->eio_from + 1;
  auto img = OpenImage(std::move(f), FormatHint::kAuto);
  ASSERT_TRUE(img.ok());
  std::vector<uint8_t> buf(1024 * 1024);
  auto st = (*img)->ReadAt(0, buf);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kIo);
}

TEST(IoFaults, NoSpaceWhileWritingIsAnIoError) {
  for (ContainerKind kind : {ContainerKind::kRaw, ContainerKind::kVhdFixed, ContainerKind::kVhdDynamic}) {
    SCOPED_TRACE(ContainerKindName(kind));
    auto in = OpenImage(std::make_unique<MemFile>("in.vhd", testing::ValidDynamicVhd()), FormatHint::kAuto);
    ASSERT_TRUE(in.ok());
    FaultFile out("full.img");
    out.space = 3 * 1024 * 1024 + 12345;
    out.max_io = 65536;
    auto w = MakeWriter(kind, out, (*in)->virtual_size(), {});
    ASSERT_TRUE(w.ok());
    auto copied = CopyImage(**in, **w);
    Status st = copied.ok() ? (*w)->Finish() : Status(copied.error());
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().kind(), ErrorKind::kIo);
    EXPECT_NE(st.error().message().find("No space left on device"), std::string::npos) << st.error().message();
    EXPECT_NE(st.error().message().find("full.img"), std::string::npos);
  }
}

TEST(IoFaults, TruncatedFileIsInvalidInputNotIo) {
  auto bytes = testing::ValidFixedVhd();
  bytes.resize(300);
  auto img = OpenImage(std::make_unique<MemFile>("t.vhd", bytes), FormatHint::kVhd);
  ASSERT_FALSE(img.ok());
  EXPECT_EQ(img.error().kind(), ErrorKind::kInvalidInput);
}

}  // namespace
}  // namespace vhdcrypt
