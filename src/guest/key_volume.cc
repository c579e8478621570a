#include "src/guest/key_volume.h"

#include "formats/mbr.h"
#include "formats/writer.h"

namespace vhdcrypt {

Result<std::vector<DiskWrite>> KeyVolumePartitionTable() {
  MbrLayout layout;
  layout.partitions.push_back({1, kKeyVolumePartitionType, false, kKeyVolumePartitionStart,
                               static_cast<uint32_t>(kKeyVolumeBytes / kSectorSize - kKeyVolumePartitionStart)});
  return EncodeMbr(layout, kKeyVolumeBytes);
}

Result<std::unique_ptr<OutputFile>> CreateKeyVolume(const std::string& dir, bool overwrite) {
  ASSIGN_OR_RETURN(auto out, OutputFile::Create(dir + "/" + kKeyVolumeName, overwrite, "", OutputMode::kSecret));
  ASSIGN_OR_RETURN(auto options, DefaultWriterOptions());
  ASSIGN_OR_RETURN(auto writer, MakeWriter(ContainerKind::kVhdFixed, out->file(), kKeyVolumeBytes, options));
  ASSIGN_OR_RETURN(auto table, KeyVolumePartitionTable());
  for (const auto& w : table) RETURN_IF_ERROR(writer->Write(w.offset, w.bytes));
  RETURN_IF_ERROR(writer->Finish());  // the footer; the partition stays a hole until mkfs
  return out;
}

Status FillKeyVolume(guest::Handle& g, const std::string& device, const SecretBytes& passphrase) {
  const std::string partition = device + "1";
  RETURN_IF_ERROR(g.Mkfs("vfat", partition, kKeyVolumeLabel));
  RETURN_IF_ERROR(g.Mount(partition, "/"));
  RETURN_IF_ERROR(g.WriteBytes(std::string("/") + kKeyFileName, passphrase.span()));
  return g.UmountAll();
}

}  // namespace vhdcrypt
