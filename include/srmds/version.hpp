#pragma once
namespace srmds {
// Library version, "major.minor.patch".
const char* version();
// "cpu" or "cpu+cuda": the backends this build contains.
const char* backends();
}  // namespace srmds
