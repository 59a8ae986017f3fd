// Parsing of image-size arguments shared by the subcommands: "512" (square) or "HxW".
#pragma once

#include <array>
#include <cstdlib>
#include <string>

#include "usage_error.hpp"
#include "srmds/core/error.hpp"
#include "srmds/core/limits.hpp"

namespace srmds::cli {

// "H" or "HxW" -> {H, W}; both positive multiples of 16 and at most kMaxInputSize (4096).
inline std::array<int, 2> parse_size(const std::string& text, const char* option) {
  auto number = [&](const std::string& s) {
    if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos)
      SRMDS_USAGE(option << ": \"" << text << "\" is not a size (H or HxW)");
    return std::atoi(s.c_str());
  };
  const size_t x = text.find('x');
  const int h = number(text.substr(0, x));
  const int w = x == std::string::npos ? h : number(text.substr(x + 1));
  if (h <= 0 || w <= 0 || h % 16 != 0 || w % 16 != 0 || h > kMaxInputSize || w > kMaxInputSize)
    SRMDS_USAGE(option << ": " << h << " x " << w << " must be positive multiples of 16 (at most " << kMaxInputSize
                       << ")");
  return {h, w};
}

}  // namespace srmds::cli
