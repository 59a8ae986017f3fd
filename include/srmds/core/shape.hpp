// Shape: up to four extents, NCHW order for activations, (Cout, Cin, kh, kw) for conv weights.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <sstream>
#include <string>

#include "srmds/core/error.hpp"

namespace srmds {

class Shape {
public:
  static constexpr int kMaxRank = 4;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) {
    SRMDS_CHECK(dims.size() <= static_cast<size_t>(kMaxRank), "Shape: rank " << dims.size() << " > 4");
    for (int64_t d : dims) {
      SRMDS_CHECK(d >= 0, "Shape: negative extent " << d);
      m_dims[m_rank++] = d;
    }
  }
  template <class It>
  static Shape from_range(It begin, It end) {
    Shape s;
    for (It it = begin; it != end; ++it) {
      SRMDS_CHECK(s.m_rank < kMaxRank, "Shape: rank > 4");
      SRMDS_CHECK(*it >= 0, "Shape: negative extent " << *it);
      s.m_dims[s.m_rank++] = static_cast<int64_t>(*it);
    }
    return s;
  }

  int rank() const { return m_rank; }
  int64_t operator[](int i) const { return m_dims[i]; }
  int64_t& operator[](int i) { return m_dims[i]; }

  // NCHW accessors; valid for rank-4 shapes.
  int64_t n() const { return m_dims[0]; }
  int64_t c() const { return m_dims[1]; }
  int64_t h() const { return m_dims[2]; }
  int64_t w() const { return m_dims[3]; }

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < m_rank; ++i) n *= m_dims[i];
    return n;
  }

  bool operator==(const Shape& o) const {
    if (m_rank != o.m_rank) return false;
    for (int i = 0; i < m_rank; ++i)
      if (m_dims[i] != o.m_dims[i]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }

  std::string str() const {
    std::ostringstream os;
    os << '[';
    for (int i = 0; i < m_rank; ++i) os << (i ? ", " : "") << m_dims[i];
    os << ']';
    return os.str();
  }

private:
  std::array<int64_t, kMaxRank> m_dims{};
  int m_rank = 0;
};

inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

}  // namespace srmds
