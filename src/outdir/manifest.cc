#include "src/outdir/manifest.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string_view>

#include "base/json.h"
#include "formats/io.h"

namespace vhdcrypt {

using json = nlohmann::ordered_json;

const char* HeaderPlacementName(HeaderPlacement h) { return h == HeaderPlacement::kDetached ? "detached" : "attached"; }

std::optional<HeaderPlacement> HeaderPlacementFromName(std::string_view name) {
  for (HeaderPlacement h : {HeaderPlacement::kAttached, HeaderPlacement::kDetached}) {
    if (name == HeaderPlacementName(h)) return h;
  }
  return std::nullopt;
}

const char* FreeSpaceName(FreeSpace f) { return f == FreeSpace::kSkipped ? "skipped" : "encrypted"; }

std::optional<FreeSpace> FreeSpaceFromName(std::string_view name) {
  for (FreeSpace f : {FreeSpace::kEncrypted, FreeSpace::kSkipped}) {
    if (name == FreeSpaceName(f)) return f;
  }
  return std::nullopt;
}

std::string DescribeVolume(const ManifestVolume& v, const ManifestDisk& d) {
  std::string s =
      d.output + (v.partition == 0 ? std::string(" (whole disk)") : " partition " + std::to_string(v.partition));
  if (!v.mountpoint.empty()) s += " (" + v.mountpoint + ")";
  return s;
}

std::string ManifestToJson(const Manifest& m) {
  json disks = json::array();
  for (const auto& d : m.disks) {
    disks.push_back({{"input", d.input},
                     {"input_sha256", d.input_sha256.empty() ? json(nullptr) : json(d.input_sha256)},
                     {"input_format", ContainerKindName(d.input_format)},
                     {"input_virtual_size", d.input_virtual_size},
                     {"output", d.output},
                     {"output_format", ContainerKindName(d.output_format)},
                     {"output_virtual_size", d.output_virtual_size},
                     {"partition_table", d.partition_table},
                     {"os_disk", d.os_disk}});
  }
  json volumes = json::array();
  for (const auto& v : m.volumes) {
    volumes.push_back({{"disk", v.disk},
                       {"partition", v.partition},
                       {"device", v.device},
                       {"mountpoint", v.mountpoint},
                       {"filesystem", v.filesystem},
                       {"filesystem_uuid", v.filesystem_uuid},
                       {"luks_uuid", v.luks_uuid},
                       {"mapper_name", v.mapper_name},
                       {"cipher", v.cipher},
                       {"key_bits", v.key_bits},
                       {"sector_size", v.sector_size},
                       {"pbkdf", v.pbkdf},
                       {"source_offset", v.source_offset},
                       {"size", v.size},
                       {"header_offset", v.header_offset},
                       {"data_offset", v.data_offset},
                       {"header", HeaderPlacementName(v.header)},
                       {"header_file", v.header_file},
                       {"header_device", v.header_device},
                       {"free_space", FreeSpaceName(v.free_space)},
                       {"encrypted_bytes", v.encrypted_bytes}});
  }
  json j = {{"version", m.version},
            {"tool", m.tool},
            {"passphrase_file", m.passphrase_file},
            {"disks", std::move(disks)},
            {"volumes", std::move(volumes)}};
  if (m.golden) j["golden"] = {{"manifest_sha256", m.golden->manifest_sha256}, {"dir", m.golden->dir}};
  return JsonText(j, 2) + "\n";
}

namespace {

// Reads one field with its type checked; the error names the JSON path.
class Reader {
 public:
  Reader(const std::string& file, const json& j, std::string where) : file_(file), j_(j), where_(std::move(where)) {}

  template <typename T>
  Status Get(const char* key, T* out) const {
    auto it = j_.find(key);
    if (it == j_.end()) return Fail(key, "is missing");
    try {
      if constexpr (std::is_same_v<T, bool>) {
        if (!it->is_boolean()) return Fail(key, "is not a boolean");
      } else if constexpr (std::is_integral_v<T>) {
        if (!it->is_number_integer()) return Fail(key, "is not an integer");
        if (!it->is_number_unsigned() && it->template get<int64_t>() < 0) return Fail(key, "is negative");
        // Never narrowed: 4294967296 read into 32 bits would be 0.
        const uint64_t value = it->template get<uint64_t>();
        if (value > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
          return Fail(key,
                      "is " + std::to_string(value) + ", more than " + std::to_string(std::numeric_limits<T>::max()));
        }
        *out = static_cast<T>(value);
        return {};
      } else {
        if (!it->is_string()) return Fail(key, "is not a string");
      }
      *out = it->template get<T>();
    } catch (const json::exception& e) {
      return Fail(key, e.what());
    }
    return {};
  }

  // As Get for a string that may also be null (left as it is then).
  Status GetStringOrNull(const char* key, std::string* out) const {
    auto it = j_.find(key);
    if (it != j_.end() && it->is_null()) return {};
    return Get(key, out);
  }

  // A string that `parse` turns into a value (nullopt: not a name it knows), as `expected` says.
  template <typename E>
  Status GetEnum(const char* key, std::optional<E> (*parse)(std::string_view), const char* expected, E* out) const {
    std::string name;
    RETURN_IF_ERROR(Get(key, &name));
    const std::optional<E> value = parse(name);
    if (!value) return Fail(key, "is \"" + name + "\", expected " + expected);
    *out = *value;
    return {};
  }

  Status GetContainer(const char* key, ContainerKind* out) const {
    return GetEnum(key, ContainerKindFromName, "\"raw\", \"vhd-fixed\" or \"vhd-dynamic\"", out);
  }

  Status GetHeaderPlacement(const char* key, HeaderPlacement* out) const {
    return GetEnum(key, HeaderPlacementFromName, "\"attached\" or \"detached\"", out);
  }

  bool Has(const char* key) const { return j_.contains(key); }

  Error Fail(const std::string& key, const std::string& what) const {
    return InvalidInput(file_ + ": " + where_ + "." + key + " " + what);
  }

 private:
  const std::string& file_;
  const json& j_;
  std::string where_;
};

// What a volume entry must hold beyond its fields' types.
Status CheckVolume(const Reader& r, const ManifestVolume& v, const std::vector<ManifestDisk>& disks) {
  if (v.header == HeaderPlacement::kDetached &&
      (v.header_file.empty() || v.header_file[0] != '/' || v.header_device.empty())) {
    return r.Fail("header_file", "and header_device must name the detached header's file and filesystem");
  }
  if (v.disk < 0 || static_cast<size_t>(v.disk) >= disks.size()) {
    return r.Fail("disk",
                  "is " + std::to_string(v.disk) + ", but there are " + std::to_string(disks.size()) + " disks");
  }
  if (v.sector_size != 512 && v.sector_size != 4096) {
    return r.Fail("sector_size", "is " + std::to_string(v.sector_size) + ", expected 512 or 4096");
  }
  if (v.encrypted_bytes > v.size || (v.free_space == FreeSpace::kEncrypted && v.encrypted_bytes != v.size)) {
    return r.Fail("encrypted_bytes", "is " + std::to_string(v.encrypted_bytes) + " for a volume of " +
                                         std::to_string(v.size) + " bytes whose free space is " +
                                         FreeSpaceName(v.free_space));
  }
  const ManifestDisk& d = disks[v.disk];
  if (v.data_offset < v.header_offset || v.data_offset > d.output_virtual_size ||
      v.size > d.output_virtual_size - v.data_offset) {
    return r.Fail("data_offset",
                  "and size do not fit in " + d.output + " (" + std::to_string(d.output_virtual_size) + " bytes)");
  }
  return {};
}

// An instance manifest's "golden" object (deploy).
Result<ManifestGolden> ReadGolden(const std::string& path, const json& gj) {
  Reader r(path, gj, "golden");
  ManifestGolden g;
  RETURN_IF_ERROR(r.Get("manifest_sha256", &g.manifest_sha256));
  RETURN_IF_ERROR(r.Get("dir", &g.dir));
  if (g.manifest_sha256.size() != 64 || g.manifest_sha256.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return r.Fail("manifest_sha256", "is not 64 lowercase hex digits");
  }
  return g;
}

}  // namespace

Result<Manifest> ManifestFromJson(const std::string& path, const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return InvalidInput(path + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) return InvalidInput(path + ": not a JSON object");
  Manifest m;
  Reader top(path, j, "manifest");
  RETURN_IF_ERROR(top.Get("version", &m.version));
  if (m.version != 1) return top.Fail("version", "is " + std::to_string(m.version) + ", expected 1");
  RETURN_IF_ERROR(top.Get("tool", &m.tool));
  RETURN_IF_ERROR(top.Get("passphrase_file", &m.passphrase_file));
  if (!j.contains("disks") || !j["disks"].is_array()) return top.Fail("disks", "is not an array");
  if (!j.contains("volumes") || !j["volumes"].is_array()) return top.Fail("volumes", "is not an array");
  for (size_t i = 0; i < j["disks"].size(); ++i) {
    const json& dj = j["disks"][i];
    if (!dj.is_object()) return InvalidInput(path + ": disks[" + std::to_string(i) + "] is not an object");
    Reader r(path, dj, "disks[" + std::to_string(i) + "]");
    ManifestDisk d;
    RETURN_IF_ERROR(r.Get("input", &d.input));
    // null: encrypt ran with --no-input-hash.
    RETURN_IF_ERROR(r.GetStringOrNull("input_sha256", &d.input_sha256));
    RETURN_IF_ERROR(r.GetContainer("input_format", &d.input_format));
    RETURN_IF_ERROR(r.Get("input_virtual_size", &d.input_virtual_size));
    RETURN_IF_ERROR(r.Get("output", &d.output));
    RETURN_IF_ERROR(r.GetContainer("output_format", &d.output_format));
    RETURN_IF_ERROR(r.Get("output_virtual_size", &d.output_virtual_size));
    RETURN_IF_ERROR(r.Get("partition_table", &d.partition_table));
    RETURN_IF_ERROR(r.Get("os_disk", &d.os_disk));
    if (d.output.empty() || d.output.find('/') != std::string::npos || d.output == "." || d.output == "..") {
      return r.Fail("output", "'" + d.output + "' is not a file name inside the manifest's directory");
    }
    m.disks.push_back(std::move(d));
  }
  for (size_t i = 0; i < j["volumes"].size(); ++i) {
    const json& vj = j["volumes"][i];
    if (!vj.is_object()) return InvalidInput(path + ": volumes[" + std::to_string(i) + "] is not an object");
    Reader r(path, vj, "volumes[" + std::to_string(i) + "]");
    ManifestVolume v;
    RETURN_IF_ERROR(r.Get("disk", &v.disk));
    RETURN_IF_ERROR(r.Get("partition", &v.partition));
    RETURN_IF_ERROR(r.Get("device", &v.device));
    RETURN_IF_ERROR(r.Get("mountpoint", &v.mountpoint));
    RETURN_IF_ERROR(r.Get("filesystem", &v.filesystem));
    RETURN_IF_ERROR(r.Get("filesystem_uuid", &v.filesystem_uuid));
    RETURN_IF_ERROR(r.Get("luks_uuid", &v.luks_uuid));
    RETURN_IF_ERROR(r.Get("mapper_name", &v.mapper_name));
    RETURN_IF_ERROR(r.Get("cipher", &v.cipher));
    RETURN_IF_ERROR(r.Get("key_bits", &v.key_bits));
    RETURN_IF_ERROR(r.Get("sector_size", &v.sector_size));
    RETURN_IF_ERROR(r.Get("pbkdf", &v.pbkdf));
    RETURN_IF_ERROR(r.Get("source_offset", &v.source_offset));
    RETURN_IF_ERROR(r.Get("size", &v.size));
    RETURN_IF_ERROR(r.Get("header_offset", &v.header_offset));
    RETURN_IF_ERROR(r.Get("data_offset", &v.data_offset));
    RETURN_IF_ERROR(r.GetHeaderPlacement("header", &v.header));
    RETURN_IF_ERROR(r.Get("header_file", &v.header_file));
    RETURN_IF_ERROR(r.Get("header_device", &v.header_device));
    // Both or neither: manifests before --skip-free-space have neither.
    v.encrypted_bytes = v.size;
    if (r.Has("free_space") || r.Has("encrypted_bytes")) {
      RETURN_IF_ERROR(r.GetEnum("free_space", FreeSpaceFromName, "\"encrypted\" or \"skipped\"", &v.free_space));
      RETURN_IF_ERROR(r.Get("encrypted_bytes", &v.encrypted_bytes));
    }
    RETURN_IF_ERROR(CheckVolume(r, v, m.disks));
    m.volumes.push_back(std::move(v));
  }
  if (j.contains("golden")) {
    if (!j["golden"].is_object()) return top.Fail("golden", "is not an object");
    ASSIGN_OR_RETURN(m.golden, ReadGolden(path, j["golden"]));
  }
  return m;
}

Result<std::string> ReadManifestText(const std::string& dir) {
  const std::string path = dir + "/manifest.json";
  ASSIGN_OR_RETURN(auto file, OpenReadOnly(path));
  ASSIGN_OR_RETURN(uint64_t size, file->Size());
  if (size > (16u << 20)) return InvalidInput(path + ": larger than 16 MiB; not a manifest");
  std::string text(size, '\0');
  RETURN_IF_ERROR(ReadFull(*file, 0, std::span(reinterpret_cast<uint8_t*>(text.data()), text.size())));
  return text;
}

Result<Manifest> ReadManifest(const std::string& dir) {
  ASSIGN_OR_RETURN(std::string text, ReadManifestText(dir));
  return ManifestFromJson(dir + "/manifest.json", text);
}

}  // namespace vhdcrypt
