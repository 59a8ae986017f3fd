// srmds::Error and the checking macros used at every public entry point.
//
// SRMDS_CHECK(cond, msg) throws srmds::Error(msg). In debug builds (NDEBUG not defined), or when
// the environment sets SRMDS_DEBUG_CHECKS=1, the message ends with the developer suffix
// " [check `cond` failed at file:line]"; users of a release build see only `msg`.
// `msg` is a stream expression: SRMDS_CHECK(a == b, "conv2d: x " << x.shape() << " vs w " << w.shape()).
// Library code never calls exit() or abort(); errors are exceptions with context.
#pragma once

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>

namespace srmds {

class Error : public std::runtime_error {
public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A request the caller can correct before any work: an option value, an output name that clashes
// with an input or another output (the CLI exits 2 on it, as on its own usage errors).
class RequestError : public Error {
public:
  using Error::Error;
};

namespace detail {
inline const char* file_basename(const char* path) {
  const char* base = path;
  for (const char* p = path; *p; ++p)
    if (*p == '/' || *p == '\\') base = p + 1;
  return base;
}
// Whether SRMDS_CHECK appends " [check `cond` failed at file:line]" (read once per process).
inline bool debug_checks() {
#ifndef NDEBUG
  return true;
#else
  static const bool on = [] {
    const char* v = std::getenv("SRMDS_DEBUG_CHECKS");
    return v != nullptr && std::strcmp(v, "") != 0 && std::strcmp(v, "0") != 0;
  }();
  return on;
#endif
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

// Checks a precondition; on failure throws srmds::Error with `msg` (plus the expression, file and
// line when detail::debug_checks()).
#define SRMDS_CHECK(cond, msg)                                                                 \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      std::ostringstream srmds_check_os_;                                                      \
      srmds_check_os_ << msg;                                                                  \
      if (::srmds::detail::debug_checks())                                                     \
        srmds_check_os_ << " [check `" #cond "` failed at "                                    \
                        << ::srmds::detail::file_basename(__FILE__) << ":" << __LINE__ << "]"; \
      throw ::srmds::Error(srmds_check_os_.str());                                             \
    }                                                                                          \
  } while (0)
