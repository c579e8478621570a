// Errors as values. Every layer adds context ("disk.vhd: BAT entry 3: ...")
// and main() prints the message once and maps the kind to an exit code.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace vhdcrypt {

// The kinds map one-to-one onto the documented exit codes (src/exit_codes.h).
enum class ErrorKind {
  kFindings = 1,      // check found errors, verification failed
  kUsage = 2,         // bad command line or conflicting options
  kInvalidInput = 3,  // malformed or unsupported image
  kIo = 4,            // read/write/sync failure, no space
  kGuest = 5,         // libguestfs operation failed
};

class Error {
 public:
  Error(ErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) {}

  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "prefix: message".
  Error Context(const std::string& prefix) const { return Error(kind_, prefix + ": " + message_); }

 private:
  ErrorKind kind_;
  std::string message_;
};

inline Error InvalidInput(std::string m) { return Error(ErrorKind::kInvalidInput, std::move(m)); }
inline Error IoError(std::string m) { return Error(ErrorKind::kIo, std::move(m)); }
inline Error UsageError(std::string m) { return Error(ErrorKind::kUsage, std::move(m)); }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_{ErrorKind::kIo, ""};
  bool ok_ = true;
};

}  // namespace vhdcrypt

// Propagate an error from an expression yielding Status or Result<T>.
#define VHDC_CONCAT_INNER(a, b) a##b
#define VHDC_CONCAT(a, b) VHDC_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                            \
  do {                                                   \
    auto vhdc_status_ = (expr);                          \
    if (!vhdc_status_.ok()) return vhdc_status_.error(); \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.error();          \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(VHDC_CONCAT(vhdc_r_, __LINE__), lhs, expr)
