// Not compiled: the input of the layering_refuses_a_forbidden_include test,
// as if it were a source of a library that USES only base.
#include <vector>

#include "base/result.h"
#include "src/guest/cpio.h"
