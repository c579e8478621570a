// Writes small valid images as seed corpora for the fuzzers:
//   make_seeds VHD_DIR PTABLE_DIR
// Seeds are made by the same writers the tool uses, so they stay valid as the
// formats code evolves, and they are small (a few KiB) so fuzzing is fast.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "formats/gpt.h"
#include "formats/guid.h"
#include "formats/io.h"
#include "formats/mbr.h"
#include "formats/vhd.h"
#include "formats/writer.h"

namespace {

using namespace vhdcrypt;

void Save(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> MakeVhd(ContainerKind kind, uint64_t size, uint32_t block_size) {
  MemFile f("seed");
  WriterOptions o;
  o.block_size = block_size;
  auto w = MakeWriter(kind, f, size, o);
  if (!w.ok()) return {};
  std::vector<uint8_t> data(1024, 0x5a);
  (void)(*w)->Write(0, data);
  (void)(*w)->Write(size - 1024, data);
  (void)(*w)->Finish();
  return f.data();
}

// Fixed VHDs we write are whole MiB; a seed wants a few KiB.
std::vector<uint8_t> SmallFixedVhd() {
  std::vector<uint8_t> bytes(4096, 0x3c);
  vhd::Footer f;
  f.current_size = f.original_size = bytes.size();
  f.geometry = vhd::GeometryForSize(f.current_size);
  std::memcpy(f.creator_app.data(), "win ", 4);
  auto footer = vhd::EncodeFooter(f);
  bytes.insert(bytes.end(), footer.begin(), footer.end());
  return bytes;
}

std::vector<uint8_t> Apply(const Result<std::vector<DiskWrite>>& writes, uint64_t size) {
  std::vector<uint8_t> disk(size, 0);
  if (!writes.ok()) return {};
  for (const auto& w : *writes) std::copy(w.bytes.begin(), w.bytes.end(), disk.begin() + w.offset);
  return disk;
}

// 96 sectors: the smallest GPT with room for two small partitions.
std::vector<uint8_t> SmallGptDisk() {
  GptLayout layout;
  layout.disk_guid = GuidFromText("5A1E0000-0000-4000-8000-000000000000");
  layout.partitions.push_back(
      {1, GuidFromText(kGptTypeLinuxFilesystem), GuidFromText("5A1E0000-0000-4000-8000-000000000001"), 34, 47, 0, "a"});
  layout.partitions.push_back(
      {2, GuidFromText(kGptTypeEfiSystem), GuidFromText("5A1E0000-0000-4000-8000-000000000002"), 48, 62, 1, "esp"});
  return Apply(EncodeGpt(layout, 96 * 512), 96 * 512);
}

std::vector<uint8_t> SmallMbrDisk() {
  MbrLayout layout;
  layout.disk_signature = 0x5a1e5eed;
  layout.partitions.push_back({1, 0x83, true, 1, 31});
  layout.partitions.push_back({2, 0x82, false, 32, 32});
  return Apply(EncodeMbr(layout, 64 * 512), 64 * 512);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_seeds VHD_DIR PTABLE_DIR\n");
    return 2;
  }
  const std::string vhd_dir = argv[1], pt_dir = argv[2];
  Save(vhd_dir + "/fixed.vhd", SmallFixedVhd());
  Save(vhd_dir + "/dynamic-4k.vhd", MakeVhd(ContainerKind::kVhdDynamic, 64 * 1024, 4096));
  Save(vhd_dir + "/dynamic-512.vhd", MakeVhd(ContainerKind::kVhdDynamic, 8 * 1024, 512));
  Save(pt_dir + "/gpt.img", SmallGptDisk());
  Save(pt_dir + "/mbr.img", SmallMbrDisk());
  return 0;
}
