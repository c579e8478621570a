// A virtual disk: what a guest would see, whatever the container. Readers of
// partition tables and filesystems take an Image&, never a File&.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "formats/io.h"

namespace vhdcrypt {

enum class ContainerKind { kRaw, kVhdFixed, kVhdDynamic };
enum class FormatHint { kAuto, kVhd, kRaw };

const char* ContainerKindName(ContainerKind kind);  // "raw", "vhd-fixed", "vhd-dynamic"
// The kind ContainerKindName spells `name`; nullopt for any other text.
std::optional<ContainerKind> ContainerKindFromName(std::string_view name);
const char* FormatHintName(FormatHint hint);  // "auto", "vhd", "raw"

class Image {
 public:
  virtual ~Image() = default;

  virtual const std::string& path() const = 0;
  virtual ContainerKind kind() const = 0;
  // Bytes the guest sees; always a multiple of 512.
  virtual uint64_t virtual_size() const = 0;
  // Reads exactly buf.size() bytes at a virtual offset. Reading past
  // virtual_size() is an error.
  virtual Status ReadAt(uint64_t offset, std::span<uint8_t> buf) = 0;
  // Virtual ranges that may hold non-zero data, sorted, non-overlapping.
  // Everything outside them reads as zeros, so copies may skip it.
  virtual Result<std::vector<Extent>> AllocatedExtents() = 0;
  // Human-readable remarks about the container that are not errors.
  virtual std::vector<std::string> Warnings() const { return {}; }
};

// A raw image over a File: virtual offset == file offset.
class RawImage : public Image {
 public:
  // Refuses files whose size is not a multiple of 512.
  static Result<std::unique_ptr<RawImage>> Open(std::unique_ptr<File> file);

  const std::string& path() const override { return file_->path(); }
  ContainerKind kind() const override { return ContainerKind::kRaw; }
  uint64_t virtual_size() const override { return size_; }
  Status ReadAt(uint64_t offset, std::span<uint8_t> buf) override;
  Result<std::vector<Extent>> AllocatedExtents() override;

 private:
  RawImage(std::unique_ptr<File> file, uint64_t size) : file_(std::move(file)), size_(size) {}
  std::unique_ptr<File> file_;
  uint64_t size_;
};

// Checks that [offset, offset+len) lies inside an image of `size` bytes,
// without overflow. Shared by every Image implementation.
Status CheckVirtualRange(const std::string& path, uint64_t size, uint64_t offset, uint64_t len);

// Opens an image, choosing the container by content unless hint says which.
// Detection: "conectix" at offset 0 -> dynamic (or differencing) VHD; a
// "conectix" footer in the last 512 bytes -> fixed VHD; otherwise raw.
Result<std::unique_ptr<Image>> OpenImage(std::unique_ptr<File> file, FormatHint hint);

}  // namespace vhdcrypt
