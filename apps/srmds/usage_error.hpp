// Usage errors: an invalid option value found by our own checks exits 2, as CLI11's parse errors
// do (main.cpp), and so does the library's RequestError (UsageError is one); every other failure
// exits 1.
#pragma once

#include <sstream>

#include "srmds/core/error.hpp"

namespace srmds::cli {

class UsageError : public RequestError {
public:
  using RequestError::RequestError;
};

}  // namespace srmds::cli

#define SRMDS_USAGE(msg)                                    \
  do {                                                      \
    std::ostringstream srmds_usage_os_;                     \
    srmds_usage_os_ << msg;                                 \
    throw ::srmds::cli::UsageError(srmds_usage_os_.str());  \
  } while (0)
