#include "src/digest.h"

#include <algorithm>
#include <vector>

namespace vhdcrypt {
namespace {

constexpr size_t kReadBytes = 4 << 20;

Result<std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>> NewSha256() {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return IoError("sha256: OpenSSL failed");
  return ctx;
}

Result<std::string> HexFinal(EVP_MD_CTX* ctx) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, md, &len) != 1) return IoError("sha256: OpenSSL failed");
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 15];
  }
  return hex;
}

}  // namespace

Result<std::string> Sha256File(const std::string& path, const std::atomic<bool>& stop) {
  ASSIGN_OR_RETURN(auto digest, FileDigest::Open(path));
  return digest->Finish(stop);
}

Result<std::string> Sha256Range(Image& image, uint64_t offset, uint64_t size) {
  ASSIGN_OR_RETURN(auto ctx, NewSha256());
  std::vector<uint8_t> buf(static_cast<size_t>(std::min<uint64_t>(kReadBytes, size)));
  for (uint64_t done = 0; done < size;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - done));
    RETURN_IF_ERROR(image.ReadAt(offset + done, std::span(buf).first(n)));
    if (EVP_DigestUpdate(ctx.get(), buf.data(), n) != 1) return IoError("sha256: OpenSSL failed");
    done += n;
  }
  return HexFinal(ctx.get());
}

FileDigest::FileDigest(std::unique_ptr<File> file, uint64_t size)
    : file_(std::move(file)), size_(size), ctx_(nullptr, EVP_MD_CTX_free) {}

Result<std::unique_ptr<FileDigest>> FileDigest::Open(const std::string& path) {
  ASSIGN_OR_RETURN(auto file, OpenReadOnly(path));
  ASSIGN_OR_RETURN(uint64_t size, file->Size());
  std::unique_ptr<FileDigest> digest(new FileDigest(std::move(file), size));
  ASSIGN_OR_RETURN(digest->ctx_, NewSha256());
  return digest;
}

Status FileDigest::Update(std::span<const uint8_t> data) {
  if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) return IoError("sha256: OpenSSL failed");
  pos_ += data.size();
  return {};
}

Status FileDigest::ReadUpTo(uint64_t end, const std::atomic<bool>* stop) {
  if (pos_ < end && buf_.empty()) buf_.resize(static_cast<size_t>(std::min<uint64_t>(kReadBytes, end - pos_)));
  while (pos_ < end) {
    if (stop != nullptr && *stop) return IoError(file_->path() + ": hashing cancelled");
    const auto piece = std::span(buf_).first(static_cast<size_t>(std::min<uint64_t>(buf_.size(), end - pos_)));
    RETURN_IF_ERROR(ReadFull(*file_, pos_, piece));
    RETURN_IF_ERROR(Update(piece));
  }
  return {};
}

Status FileDigest::Feed(uint64_t offset, std::span<const uint8_t> data) {
  if (offset >= size_) return {};
  data = data.first(static_cast<size_t>(std::min<uint64_t>(data.size(), size_ - offset)));
  const uint64_t end = offset + data.size();
  if (end <= pos_) return {};
  RETURN_IF_ERROR(ReadUpTo(offset, nullptr));
  return Update(data.subspan(static_cast<size_t>(pos_ - offset)));
}

Result<std::string> FileDigest::Finish(const std::atomic<bool>& stop) {
  RETURN_IF_ERROR(ReadUpTo(size_, &stop));
  return HexFinal(ctx_.get());
}

}  // namespace vhdcrypt
