// Root identification (guestfs/os_identity.h) on the release files of real
// distributions, with the answers libguestfs 1.48's inspect_os gave for them.
#include "guestfs/os_identity.h"

#include <gtest/gtest.h>

#include <map>

namespace vhdcrypt::guest {
namespace {

using Files = std::map<std::string, std::vector<std::string>>;

LinuxIdentity Identify(const Files& files) {
  return IdentifyLinux([&](const std::string& path) -> std::optional<std::vector<std::string>> {
    auto it = files.find(path);
    if (it == files.end()) return std::nullopt;
    return it->second;
  });
}

void ExpectIdentity(const LinuxIdentity& id, const std::string& distro, const std::string& product, int major,
                    int minor) {
  EXPECT_EQ(id.distro, distro);
  EXPECT_EQ(id.product_name, product);
  EXPECT_EQ(id.major, major);
  EXPECT_EQ(id.minor, minor);
}

// The test suite's Debian 12 guests: libguestfs printed "product_name: 12.15,
// version: 12.15" (os-release has the major only; debian_version the rest).
TEST(IdentifyLinux, DebianTakesItsMinorFromDebianVersion) {
  ExpectIdentity(Identify({{"/etc/os-release",
                            {"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"", "NAME=\"Debian GNU/Linux\"",
                             "VERSION_ID=\"12\"", "ID=debian"}},
                           {"/etc/debian_version", {"12.15"}}}),
                 "debian", "12.15", 12, 15);
  // A testing release's debian_version has no number: the major stays.
  ExpectIdentity(Identify({{"/etc/os-release", {"PRETTY_NAME=\"Debian GNU/Linux 13\"", "VERSION_ID=13", "ID=debian"}},
                           {"/etc/debian_version", {"trixie/sid"}}}),
                 "debian", "trixie/sid", 13, 0);
}

TEST(IdentifyLinux, UbuntuFromOsRelease) {
  ExpectIdentity(Identify({{"/etc/os-release",
                            {"NAME=\"Ubuntu\"", "VERSION=\"22.04.3 LTS (Jammy Jellyfish)\"", "ID=ubuntu",
                             "ID_LIKE=debian", "PRETTY_NAME=\"Ubuntu 22.04.3 LTS\"", "VERSION_ID=\"22.04\""}},
                           {"/etc/debian_version", {"bookworm/sid"}}}),
                 "ubuntu", "Ubuntu 22.04.3 LTS", 22, 4);
  // Before os-release: lsb-release.
  ExpectIdentity(Identify({{"/etc/lsb-release",
                            {"DISTRIB_ID=Ubuntu", "DISTRIB_RELEASE=10.04", "DISTRIB_CODENAME=lucid",
                             "DISTRIB_DESCRIPTION=\"Ubuntu 10.04.1 LTS\""}}}),
                 "ubuntu", "Ubuntu 10.04.1 LTS", 10, 4);
}

TEST(IdentifyLinux, RedHatFamilyFromReleaseFiles) {
  // CentOS 6 has no os-release.
  ExpectIdentity(Identify({{"/etc/redhat-release", {"CentOS release 6.8 (Final)"}}}), "centos",
                 "CentOS release 6.8 (Final)", 6, 8);
  // CentOS 7's os-release says VERSION_ID="7": centos-release has the minor.
  ExpectIdentity(Identify({{"/etc/os-release",
                            {"NAME=\"CentOS Linux\"", "ID=\"centos\"", "VERSION_ID=\"7\"",
                             "PRETTY_NAME=\"CentOS Linux 7 (Core)\""}},
                           {"/etc/centos-release", {"CentOS Linux release 7.9.2009 (Core)"}},
                           {"/etc/redhat-release", {"CentOS Linux release 7.9.2009 (Core)"}}}),
                 "centos", "CentOS Linux release 7.9.2009 (Core)", 7, 9);
  ExpectIdentity(Identify({{"/etc/os-release",
                            {"NAME=\"Red Hat Enterprise Linux\"", "ID=\"rhel\"", "VERSION_ID=\"8.6\"",
                             "PRETTY_NAME=\"Red Hat Enterprise Linux 8.6 (Ootpa)\""}},
                           {"/etc/redhat-release", {"Red Hat Enterprise Linux release 8.6 (Ootpa)"}}}),
                 "rhel", "Red Hat Enterprise Linux 8.6 (Ootpa)", 8, 6);
  ExpectIdentity(Identify({{"/etc/redhat-release", {"Red Hat Enterprise Linux AS release 4 (Nahant Update 9)"}}}),
                 "rhel", "Red Hat Enterprise Linux AS release 4 (Nahant Update 9)", 4, 9);
  // Oracle Linux's ID=ol is not one libguestfs knows: oracle-release decides.
  ExpectIdentity(Identify({{"/etc/os-release",
                            {"NAME=\"Oracle Linux Server\"", "ID=\"ol\"", "VERSION_ID=\"8.6\"",
                             "PRETTY_NAME=\"Oracle Linux Server 8.6\""}},
                           {"/etc/oracle-release", {"Oracle Linux Server release 8.6"}},
                           {"/etc/redhat-release", {"Red Hat Enterprise Linux release 8.6 (Ootpa)"}}}),
                 "oraclelinux", "Oracle Linux Server release 8.6", 8, 6);
  ExpectIdentity(Identify({{"/etc/redhat-release", {"Fedora release 39 (Thirty Nine)"}}}), "fedora",
                 "Fedora release 39 (Thirty Nine)", 39, 0);
  // AlmaLinux matches no pattern: a generic Red Hat-based distro.
  ExpectIdentity(Identify({{"/etc/redhat-release", {"AlmaLinux release 9.2 (Turquoise Kodkod)"}}}), "redhat-based",
                 "AlmaLinux release 9.2 (Turquoise Kodkod)", 9, 2);
}

TEST(IdentifyLinux, SuseAndUnknownIds) {
  ExpectIdentity(Identify({{"/etc/os-release",
                            {"NAME=\"SLES\"", "VERSION_ID=\"12.3\"", "ID=\"sles\"",
                             "PRETTY_NAME=\"SUSE Linux Enterprise Server 12 SP3\""}}}),
                 "sles", "SUSE Linux Enterprise Server 12 SP3", 12, 3);
  ExpectIdentity(
      Identify({{"/etc/SuSE-release", {"SUSE Linux Enterprise Server 11 (x86_64)", "VERSION = 11", "PATCHLEVEL = 4"}}}),
      "sles", "SUSE Linux Enterprise Server 11 (x86_64)", 11, 4);
  ExpectIdentity(Identify({{"/etc/os-release",
                            {"NAME=\"openSUSE Leap\"", "VERSION_ID=\"15.5\"", "ID=\"opensuse-leap\"",
                             "PRETTY_NAME=\"openSUSE Leap 15.5\""}}}),
                 "opensuse", "openSUSE Leap 15.5", 15, 5);
  // CBL-Mariner: an ID libguestfs does not know; lsb-release names the product.
  ExpectIdentity(Identify({{"/etc/os-release",
                            {"NAME=\"Common Base Linux Mariner\"", "VERSION_ID=\"2.0\"", "ID=mariner",
                             "PRETTY_NAME=\"CBL-Mariner/Linux\""}},
                           {"/etc/lsb-release",
                            {"DISTRIB_ID=\"Mariner\"", "DISTRIB_RELEASE=\"2.0.20230107\"",
                             "DISTRIB_DESCRIPTION=\"CBL-Mariner 2.0.20230107\""}}}),
                 "unknown", "CBL-Mariner 2.0.20230107", 2, 0);
  ExpectIdentity(Identify({}), "unknown", "unknown", 0, 0);
}

// Hostile release files: numbers too long for an int, no digits, quotes
// alone, a 500,000-byte ID.
TEST(IdentifyLinux, HostileReleaseFilesGiveNoVersionNotACrash) {
  const std::string digits(5000, '9');
  ExpectIdentity(Identify({{"/etc/os-release", {"ID=ubuntu", "PRETTY_NAME=x", "VERSION_ID=" + digits + "." + digits}}}),
                 "ubuntu", "x", 0, 0);
  ExpectIdentity(Identify({{"/etc/os-release", {"ID=" + std::string(500000, 'x'), "PRETTY_NAME=\"", "VERSION_ID=\"\""}},
                           {"/etc/redhat-release", {"Red Hat release release release " + digits}}}),
                 "rhel", "Red Hat release release release " + digits, 0, 0);
  ExpectIdentity(Identify({{"/etc/debian_version", {""}}}), "unknown", "unknown", 0, 0);
}

TEST(ElfArchitecture, NamesTheMachinesLibguestfsNames) {
  auto header = [](uint8_t cls, uint8_t data, uint16_t machine) {
    std::vector<uint8_t> h(20, 0);
    h[0] = 0x7f, h[1] = 'E', h[2] = 'L', h[3] = 'F', h[4] = cls, h[5] = data;
    if (data == 1) {
      h[18] = machine & 0xff, h[19] = machine >> 8;
    } else {
      h[18] = machine >> 8, h[19] = machine & 0xff;
    }
    return h;
  };
  EXPECT_EQ(ElfArchitecture(header(2, 1, 62)), "x86_64");
  EXPECT_EQ(ElfArchitecture(header(1, 1, 3)), "i386");
  EXPECT_EQ(ElfArchitecture(header(2, 1, 183)), "aarch64");
  EXPECT_EQ(ElfArchitecture(header(2, 1, 21)), "ppc64le");
  EXPECT_EQ(ElfArchitecture(header(2, 2, 21)), "ppc64");
  EXPECT_EQ(ElfArchitecture(header(2, 2, 22)), "s390x");
  EXPECT_EQ(ElfArchitecture(header(2, 1, 243)), "riscv64");
  EXPECT_EQ(ElfArchitecture(header(2, 1, 0x9999)), "");
  auto shell = header(2, 1, 62);
  shell[0] = '#';
  EXPECT_EQ(ElfArchitecture(shell), "");
  EXPECT_EQ(ElfArchitecture(std::vector<uint8_t>{0x7f, 'E', 'L', 'F'}), "");
}

TEST(FstabMountpoints, ResolvesWhatTheGuestMountsAndLeavesOutTheRest) {
  std::vector<Filesystem> fss(4);
  fss[0].device = "/dev/sda1", fss[0].uuid = "b007", fss[0].partition = 1;
  fss[1].device = "/dev/sda2", fss[1].uuid = "2007", fss[1].partition = 2;
  fss[2].device = "/dev/sdb1", fss[2].label = "data", fss[2].disk = 1, fss[2].partition = 1;
  fss[3].device = "/dev/vg0/var", fss[3].on_lvm = true;
  auto entry = [](std::string spec, std::string file, std::string type) {
    FstabEntry e;
    e.spec = std::move(spec), e.file = std::move(file), e.vfstype = std::move(type);
    return e;
  };
  const std::vector<FstabEntry> fstab = {
      entry("UUID=2007", "/", "ext4"),        // the root: mounted as inspected, not from here
      entry("UUID=B007", "//boot/", "ext4"),  // UUIDs match in any case; the path is made canonical
      entry("LABEL=data", "/srv/my\\040data", "xfs"),
      entry("/dev/mapper/vg0-var", "/var", "ext4"),
      entry("/dev/sdb1", "/mnt/again", "xfs"),   // the kernel's name, as disk 1 partition 1
      entry("UUID=gone", "/gone", "ext4"),       // on no disk given
      entry("/dev/sr0", "/media/cdrom", "udf"),  // removable
      entry("/dev/cdrom", "/cd", "iso9660"),
      entry("UUID=b007", "/proc/x", "ext4"),  // under /proc
      entry("UUID=b007", "none", "swap"),     // not a path
      entry("tmpfs", "/tmp", "tmpfs"),        // not a block device
      entry("UUID=b007", "/novfstype", ""),
  };
  const auto got = FstabMountpoints(fstab, fss);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"/boot", "/dev/sda1"}, {"/srv/my data", "/dev/sdb1"}, {"/var", "/dev/vg0/var"}, {"/mnt/again", "/dev/sdb1"}};
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace vhdcrypt::guest
