#include "formats/image.h"

#include <cstring>

namespace vhdcrypt {

const char* ContainerKindName(ContainerKind kind) {
  switch (kind) {
    case ContainerKind::kRaw: return "raw";
    case ContainerKind::kVhdFixed: return "vhd-fixed";
    case ContainerKind::kVhdDynamic: return "vhd-dynamic";
  }
  return "unknown";
}

std::optional<ContainerKind> ContainerKindFromName(std::string_view name) {
  for (ContainerKind k : {ContainerKind::kRaw, ContainerKind::kVhdFixed, ContainerKind::kVhdDynamic}) {
    if (name == ContainerKindName(k)) return k;
  }
  return std::nullopt;
}

const char* FormatHintName(FormatHint hint) {
  switch (hint) {
    case FormatHint::kAuto: return "auto";
    case FormatHint::kVhd: return "vhd";
    case FormatHint::kRaw: return "raw";
  }
  return "unknown";
}

Status CheckVirtualRange(const std::string& path, uint64_t size, uint64_t offset, uint64_t len) {
  if (offset > size || len > size - offset) {
    return InvalidInput(path + ": read of " + std::to_string(len) + " bytes at virtual offset " + FormatOffset(offset) +
                        " is past the end of the disk (" + std::to_string(size) + " bytes)");
  }
  return {};
}

Result<std::unique_ptr<RawImage>> RawImage::Open(std::unique_ptr<File> file) {
  ASSIGN_OR_RETURN(uint64_t size, file->Size());
  if (size < 512) {
    return InvalidInput(
        file->path() + ": " +
        (size == 0 ? std::string("is empty") : "is " + std::to_string(size) + " bytes, less than one 512-byte sector") +
        ": not a disk image");
  }
  if (size % 512 != 0) {
    return InvalidInput(file->path() + ": raw image size " + std::to_string(size) + " is not a multiple of 512 bytes");
  }
  return std::unique_ptr<RawImage>(new RawImage(std::move(file), size));
}

Status RawImage::ReadAt(uint64_t offset, std::span<uint8_t> buf) {
  RETURN_IF_ERROR(CheckVirtualRange(path(), size_, offset, buf.size()));
  return ReadFull(*file_, offset, buf);
}

Result<std::vector<Extent>> RawImage::AllocatedExtents() { return file_->DataExtents(0, size_); }

}  // namespace vhdcrypt

#include "formats/vhd.h"

namespace vhdcrypt {

Result<std::unique_ptr<Image>> OpenImage(std::unique_ptr<File> file, FormatHint hint) {
  if (hint == FormatHint::kRaw) {
    ASSIGN_OR_RETURN(auto raw, RawImage::Open(std::move(file)));
    return std::unique_ptr<Image>(std::move(raw));
  }
  bool vhd = hint == FormatHint::kVhd;
  if (!vhd) {
    ASSIGN_OR_RETURN(uint64_t size, file->Size());
    if (size >= vhd::kFooterSize) {
      char head[8], tail[8];
      RETURN_IF_ERROR(ReadFull(*file, 0, std::span(reinterpret_cast<uint8_t*>(head), 8)));
      RETURN_IF_ERROR(ReadFull(*file, size - vhd::kFooterSize, std::span(reinterpret_cast<uint8_t*>(tail), 8)));
      vhd = std::memcmp(head, "conectix", 8) == 0 || std::memcmp(tail, "conectix", 8) == 0;
    }
  }
  if (vhd) {
    ASSIGN_OR_RETURN(auto img, vhd::VhdImage::Open(std::move(file)));
    return std::unique_ptr<Image>(std::move(img));
  }
  ASSIGN_OR_RETURN(auto raw, RawImage::Open(std::move(file)));
  return std::unique_ptr<Image>(std::move(raw));
}

}  // namespace vhdcrypt
