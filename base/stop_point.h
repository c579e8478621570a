// A test hook: a run stops itself (SIGSTOP) at the point that
// VHDCRYPT_TEST_STOP_AT names, so that a test can SIGKILL it there and not
// at a moment it can only hope to catch (HostileCli.SigkillAtFivePoints...).
// The points: every progress phase by name ("encrypt", "luks-headers",
// "convert", ...), and encrypt's "outputs-created" (every temporary made,
// nothing written), "images-written" (synced, the manifest not yet written)
// and "commit" (everything written, nothing renamed).
#pragma once

#include <signal.h>

#include <cstdlib>
#include <string_view>

namespace vhdcrypt {

inline void StopPointForTests(std::string_view point) {
  const char* at = std::getenv("VHDCRYPT_TEST_STOP_AT");
  if (at != nullptr && point == at) ::raise(SIGSTOP);
}

}  // namespace vhdcrypt
