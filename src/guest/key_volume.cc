#include "src/guest/key_volume.h"

#include "formats/writer.h"

namespace vhdcrypt {

Result<std::unique_ptr<OutputFile>> CreateKeyVolume(const std::string& dir, bool overwrite) {
  ASSIGN_OR_RETURN(auto out, OutputFile::Create(dir + "/" + kKeyVolumeName, overwrite, "", OutputMode::kSecret));
  ASSIGN_OR_RETURN(auto options, DefaultWriterOptions());
  ASSIGN_OR_RETURN(auto writer, MakeWriter(ContainerKind::kVhdFixed, out->file(), kKeyVolumeBytes, options));
  RETURN_IF_ERROR(writer->Finish());  // the footer; the data area stays a hole until mkfs
  return out;
}

Status FillKeyVolume(guest::Handle& g, const std::string& device, const SecretBytes& passphrase) {
  RETURN_IF_ERROR(g.Mkfs("vfat", device, kKeyVolumeLabel));
  RETURN_IF_ERROR(g.Mount(device, "/"));
  RETURN_IF_ERROR(g.WriteBytes(std::string("/") + kKeyFileName, passphrase.span()));
  return g.UmountAll();
}

}  // namespace vhdcrypt
