#include "srmds/version.hpp"

#include "srmds/core/macros.hpp"

namespace srmds {
const char* version() { return "0.1.0"; }
const char* backends() { return SRMDS_WITH_CUDA ? "cpu+cuda" : "cpu"; }
}  // namespace srmds
