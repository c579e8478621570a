// String helpers shared by every layer. std only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vhdcrypt {

// ASCII lower case; other bytes are left as they are.
std::string Lower(std::string s);

// The blanks that separate the fields of fstab, crypttab and modprobe lines
// and that Trim removes: space, tab, CR, LF. The parsers and the editors of
// those files split on the same bytes, so an edit lands on the field the
// parser read.
inline constexpr char kBlanks[] = " \t\r\n";

inline bool StartsWith(std::string_view s, std::string_view prefix) { return s.starts_with(prefix); }

// Equal but for ASCII case ("crypto_LUKS", "CRYPTO_luks").
bool EqualsNoCase(std::string_view a, std::string_view b);

// Without leading and trailing blanks (kBlanks).
std::string Trim(std::string_view s);

// The largest binary unit that keeps the number at 1 or more, two decimals:
// "512 B", "1.50 KiB", "12.25 MiB", "1.00 GiB".
std::string BinaryUnits(uint64_t bytes);

// "512 B", or the exact count and BinaryUnits: "1073741824 (1.00 GiB)".
std::string HumanBytes(uint64_t bytes);

// The length of the well-formed UTF-8 sequence at s[i] (1 to 4), or 0 when
// the byte there does not start one (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF).
size_t Utf8SequenceAt(std::string_view s, size_t i);

// s with every byte that is not part of a well-formed UTF-8 sequence
// replaced by `replacement`: guest text and file names made fit for JSON.
std::string ValidUtf8(std::string_view s, std::string_view replacement = "\xEF\xBF\xBD");

// s made safe to print on a terminal: control characters (C0 but tab and,
// when keep_newlines, newline; DEL; C1) and bytes that are not UTF-8 are
// written as \xNN, so text from a guest cannot move the cursor, recolour or
// retitle the terminal.
std::string TerminalSafe(std::string_view s, bool keep_newlines = true);

}  // namespace vhdcrypt
