#include "src/commands/info.h"

#include <cstdio>
#include <iostream>
#include <sstream>

#include "base/exit_codes.h"
#include "base/json.h"
#include "base/strings.h"
#include "formats/partition_table.h"
#include "formats/vhd.h"

namespace vhdcrypt {
namespace {

std::string UuidText(const std::array<uint8_t, 16>& b) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return buf;
}

// The footer's creator application: four bytes, NUL-padded by some tools
// (Disk2VHD writes "d2v\0"); padding dropped, any other byte that is not
// printable ASCII written as \xNN.
std::string CreatorApp(const std::array<char, 4>& a) {
  size_t n = a.size();
  while (n > 0 && a[n - 1] == '\0') --n;
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(a[i]);
    if (c >= 0x20 && c < 0x7f) {
      s += static_cast<char>(c);
    } else {
      static const char kHex[] = "0123456789abcdef";
      s += std::string("\\x") + kHex[c >> 4] + kHex[c & 15];
    }
  }
  return s;
}

}  // namespace

Result<nlohmann::ordered_json> CollectInfo(const InfoCommandOptions& options) {
  ASSIGN_OR_RETURN(auto file, OpenReadOnly(options.image));
  ASSIGN_OR_RETURN(uint64_t file_size, file->Size());
  ASSIGN_OR_RETURN(auto image, OpenImage(std::move(file), options.format));
  ASSIGN_OR_RETURN(auto extents, image->AllocatedExtents());
  uint64_t allocated = 0;
  for (const auto& e : extents) allocated += e.length;

  nlohmann::ordered_json j;
  j["image"] = options.image;
  j["container"] = ContainerKindName(image->kind());
  j["virtual_size"] = image->virtual_size();
  j["allocated_bytes"] = allocated;
  j["file_size"] = file_size;
  if (auto* v = dynamic_cast<vhd::VhdImage*>(image.get())) {
    const auto& f = v->footer();
    nlohmann::ordered_json vj;
    vj["creator_app"] = CreatorApp(f.creator_app);
    vj["unique_id"] = UuidText(f.unique_id);
    vj["geometry"] = {{"cylinders", f.geometry.cylinders},
                      {"heads", f.geometry.heads},
                      {"sectors_per_track", f.geometry.sectors_per_track}};
    if (image->kind() == ContainerKind::kVhdDynamic) {
      vj["block_size"] = v->dynamic_header().block_size;
      vj["allocated_blocks"] = v->AllocatedBlocks();
    }
    j["vhd"] = vj;
  }
  j["warnings"] = image->Warnings();

  ASSIGN_OR_RETURN(auto table, ReadPartitionTable(*image));
  nlohmann::ordered_json tj;
  tj["kind"] = TableKindName(table.kind);
  if (!table.disk_id.empty()) tj["disk_id"] = table.disk_id;
  tj["partitions"] = nlohmann::ordered_json::array();
  for (const auto& p : table.partitions) {
    nlohmann::ordered_json pj;
    pj["number"] = p.number;
    pj["start"] = p.start;
    pj["size"] = p.size;
    pj["type"] = p.type;
    pj["type_name"] = p.type_name;
    if (table.kind == TableKind::kGpt) {
      pj["name"] = p.name;
      pj["uuid"] = p.uuid;
      pj["attributes"] = p.attributes;
    } else {
      pj["bootable"] = p.bootable;
    }
    tj["partitions"].push_back(pj);
  }
  j["partition_table"] = tj;
  return j;
}

std::string RenderInfoText(const nlohmann::ordered_json& j) {
  std::ostringstream out;
  out << "image:           " << j["image"].get<std::string>() << "\n";
  out << "container:       " << j["container"].get<std::string>();
  if (j.contains("vhd") && j["vhd"].contains("block_size")) {
    out << " (block size " << j["vhd"]["block_size"].get<uint64_t>() << ", "
        << j["vhd"]["allocated_blocks"].get<uint64_t>() << " blocks allocated)";
  }
  out << "\n";
  out << "virtual size:    " << HumanBytes(j["virtual_size"].get<uint64_t>()) << "\n";
  out << "allocated:       " << HumanBytes(j["allocated_bytes"].get<uint64_t>()) << "\n";
  out << "file size:       " << HumanBytes(j["file_size"].get<uint64_t>()) << "\n";
  if (j.contains("vhd")) {
    const auto& v = j["vhd"];
    out << "vhd creator:     \"" << v["creator_app"].get<std::string>() << "\", unique id "
        << v["unique_id"].get<std::string>() << "\n";
  }
  const auto& t = j["partition_table"];
  out << "partition table: " << t["kind"].get<std::string>();
  if (t.contains("disk_id")) out << " (disk id " << t["disk_id"].get<std::string>() << ")";
  out << "\n";
  const bool gpt = t["kind"] == "gpt";
  if (!t["partitions"].empty()) {
    char line[512];
    std::snprintf(line, sizeof line, "  %-3s %14s %14s  %s\n", "#", "start", "size", "type");
    out << line;
    for (const auto& p : t["partitions"]) {
      std::string type = p["type"].get<std::string>();
      if (!p["type_name"].get<std::string>().empty()) type += " (" + p["type_name"].get<std::string>() + ")";
      if (gpt) {
        type += "  name \"" + p["name"].get<std::string>() + "\"  uuid " + p["uuid"].get<std::string>();
      } else if (p["bootable"].get<bool>()) {
        type += "  bootable";
      }
      std::snprintf(line, sizeof line, "  %-3u %14llu %14llu  ", p["number"].get<unsigned>(),
                    static_cast<unsigned long long>(p["start"].get<uint64_t>()),
                    static_cast<unsigned long long>(p["size"].get<uint64_t>()));
      out << line << type << "\n";
    }
  }
  for (const auto& w : j["warnings"]) out << "warning: " << w.get<std::string>() << "\n";
  return out.str();
}

Result<int> RunInfo(const InfoCommandOptions& options) {
  ASSIGN_OR_RETURN(const nlohmann::ordered_json info, CollectInfo(options));
  if (options.json) {
    std::cout << JsonText(info, 2) << "\n";
  } else {
    std::cout << TerminalSafe(RenderInfoText(info));
  }
  return kExitOk;
}

}  // namespace vhdcrypt
