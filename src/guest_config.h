// The text of the guest files encrypt changes: /etc/fstab (data volumes now
// mount from /dev/mapper) and /etc/crypttab (one line per volume). Pure
// functions over lines; guestfs/ reads and writes the files.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace vhdcrypt {

// Replaces the first field (the device) of the given 1-based lines, keeping
// the rest of each line byte for byte (spacing, options, comments).
std::vector<std::string> RewriteFstab(const std::vector<std::string>& lines,
                                      const std::map<int, std::string>& spec_by_line);

struct CrypttabVolume {
  std::string name;       // dm name: "luks-<uuid>"
  std::string luks_uuid;  // the LUKS header's UUID
  std::string key_file;   // "none": asked at boot until the key-volume unlock is installed
  std::string options;    // "luks,nofail"
};

// "luks-<uuid>": the name systemd gives LUKS volumes, unique per volume.
std::string MapperName(const std::string& luks_uuid);

// Keeps the existing lines and appends one line per volume, under a comment
// saying who added them. Ends with a newline.
std::string ComposeCrypttab(const std::vector<std::string>& existing, const std::vector<CrypttabVolume>& volumes);

// Joins lines with '\n', ending with one.
std::string JoinLines(const std::vector<std::string>& lines);

}  // namespace vhdcrypt
