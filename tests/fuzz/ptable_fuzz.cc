// libFuzzer target: any bytes as a raw disk, through the partition-table
// reader. It must return a table or an error; ASan/UBSan catch the rest.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "formats/image.h"
#include "formats/io.h"
#include "formats/partition_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // RawImage wants whole sectors: pad with zeros rather than reject, so every
  // input reaches the parser.
  std::vector<uint8_t> bytes(data, data + size);
  bytes.resize((size + vhdcrypt::kSectorSize - 1) / vhdcrypt::kSectorSize * vhdcrypt::kSectorSize);
  auto image = vhdcrypt::RawImage::Open(std::make_unique<vhdcrypt::MemFile>("fuzz.img", std::move(bytes)));
  if (!image.ok()) return 0;
  auto table = vhdcrypt::ReadPartitionTable(**image);
  if (!table.ok() && table.error().kind() != vhdcrypt::ErrorKind::kInvalidInput) __builtin_trap();
  return 0;
}
