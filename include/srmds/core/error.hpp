// srmds::Error and the checking macros used at every public entry point.
//
// SRMDS_CHECK(cond, msg) throws srmds::Error("file:line: check `cond` failed: msg").
// `msg` is a stream expression: SRMDS_CHECK(a == b, "conv2d: x " << x.shape() << " vs w " << w.shape()).
// Library code never calls exit() or abort(); errors are exceptions with context.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace srmds {

class Error : public std::runtime_error {
public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
inline const char* file_basename(const char* path) {
  const char* base = path;
  for (const char* p = path; *p; ++p)
    if (*p == '/' || *p == '\\') base = p + 1;
  return base;
}
}  // namespace detail

}  // namespace srmds

// Throws srmds::Error with a message built from a stream expression.
#define SRMDS_THROW(msg)                                                   \
  do {                                                                     \
    std::ostringstream srmds_throw_os_;                                    \
    srmds_throw_os_ << msg;                                                \
    throw ::srmds::Error(srmds_throw_os_.str());                           \
  } while (0)

// Checks a precondition; on failure throws srmds::Error naming the expression, file and line.
#define SRMDS_CHECK(cond, msg)                                                             \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::ostringstream srmds_check_os_;                                                  \
      srmds_check_os_ << msg << " [check `" #cond "` failed at "                           \
                      << ::srmds::detail::file_basename(__FILE__) << ":" << __LINE__ << "]"; \
      throw ::srmds::Error(srmds_check_os_.str());                                         \
    }                                                                                      \
  } while (0)
