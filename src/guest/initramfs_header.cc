#include "src/guest/initramfs_header.h"

#include <spdlog/spdlog.h>

#include <ctime>

#include "src/guest/cpio.h"
#include "src/guest/luks_scan.h"

namespace vhdcrypt {

Result<size_t> AppendHeaderToInitramfs(guest::Handle& g, const std::string& header_path,
                                       const std::vector<uint8_t>& header) {
  const std::string dir = header_path.substr(0, header_path.size() - std::string("luks/osluksheader").size());
  std::vector<std::string> images;
  for (const char* pattern : {"initrd.img-*", "initramfs-*.img"}) {
    ASSIGN_OR_RETURN(auto found, g.Glob(dir + pattern));
    for (const auto& path : found) {
      if (path.find("kdump") == std::string::npos) images.push_back(path);
    }
  }
  std::vector<CpioEntry> entries = {
      {"boot", 040755, {}}, {"boot/luks", 040700, {}}, {"boot/luks/osluksheader", 0100600, header}};
  const auto archive = NewcArchive(entries, static_cast<uint32_t>(std::time(nullptr)));
  for (const std::string& image : images) {
    ASSIGN_OR_RETURN(uint64_t size, g.FileSize(image));
    std::vector<uint8_t> bytes((4 - size % 4) % 4, 0);  // the next archive starts 4-byte aligned
    bytes.insert(bytes.end(), archive.begin(), archive.end());
    spdlog::info("{}: appending the new header to the initramfs", image);
    RETURN_IF_ERROR(g.AppendBytes(image, bytes));
  }
  return images.size();
}

Result<size_t> ReplaceDetachedHeader(guest::Handle& g, const std::string& device, const std::string& header_path,
                                     const std::vector<uint8_t>& header, const std::string& what) {
  RETURN_IF_ERROR(g.Mount(device, "/"));
  ASSIGN_OR_RETURN(uint64_t size, g.FileSize(header_path));
  if (size == header.size()) {
    RETURN_IF_ERROR(g.PwriteFile(header_path, header, 0));
  } else {
    RETURN_IF_ERROR(g.WriteBytes(header_path, header));
  }
  ASSIGN_OR_RETURN(size_t images, AppendHeaderToInitramfs(g, header_path, header));
  ASSIGN_OR_RETURN(auto back, g.ReadBytes(header_path, kMaxDetachedHeaderBytes));
  RETURN_IF_ERROR(g.UmountAll());
  if (back != header) return IoError(what + ": the header read back differs from what was written");
  return images;
}

}  // namespace vhdcrypt
