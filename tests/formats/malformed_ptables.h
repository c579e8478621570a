// Generators of malformed partition tables, shared by the in-process table
// test (partition_table_test.cc) and the CLI test that runs the real binary.
#pragma once

#include <cstdint>
#include <vector>

#include "tests/formats/malformed_case.h"

namespace vhdcrypt::testing {

// Raw 4 MiB disks (8192 sectors) the generators start from.
//
// GPT, written by EncodeGpt (usable LBAs 34-8158):
//   1  BIOS boot         2048-4095  "bios"
//   2  EFI System        4096-6143  "EFI system"
//   3  Linux filesystem  6144-8158  "root"
// MBR, disk signature 0x12345678 (the EBRs written by hand):
//   1  0x83 bootable     2048-4095
//   2  0x05 extended     4096-8191, EBRs at 4096 and 6144
//   5  0x83 logical      5120-6143
//   6  0x82 logical      7168-8191
std::vector<uint8_t> ValidGptDisk();
std::vector<uint8_t> ValidMbrDisk();

// Each case breaks one thing, re-sealing CRCs where needed so that the
// parser reaches the check under test. `expect` names the field.
std::vector<MalformedCase> MalformedPartitionTableCases();

}  // namespace vhdcrypt::testing
