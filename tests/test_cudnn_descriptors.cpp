// Every convolution the network runs on the CUDA backend, described to cuDNN on the CPU
// (kernels/cudnn.hpp check_conv_descriptors: no handle, no GPU): the SRFV blocks' branches and the
// fused blocks' 3x3 convolutions of every stage, with the batch strides of the concatenation
// buffers the encoder writes into, and the four heads, at the benchmark's shapes (inference 512 x
// 512 at batch 1 and 16, training 256 x 256 at batch 8) and a training batch of 16 at 512 x 512,
// base 64. The same descriptors serve the forward and both backward directions. Needs the CUDA
// backend (cuDNN's library, not a GPU).
#include <catch2/catch.hpp>

#if SRMDS_WITH_CUDA

#include <tuple>
#include <utility>

#include "kernels/cudnn.hpp"
#include "srmds/nets/block_spec.hpp"
#include "srmds/nets/layout.hpp"

using namespace srmds;
using srmds::cuda::detail::check_conv_descriptors;

TEST_CASE("every convolution of the network is described to cuDNN without a GPU", "[cudnn][descriptors]") {
  const NetConfig cfg;  // base 64
  const auto specs = stage_specs(cfg);
  const auto hc = head_channels(cfg);
  int described = 0;
  for (const auto& [n, size] : {std::pair<int64_t, int64_t>{1, 512}, {16, 512}, {8, 256}}) {
    for (size_t i = 0; i < specs.size(); ++i) {
      const StageSpec& st = specs[i];
      const int64_t h = size >> st.level, w = h, hw = h * w;
      // the encoder's stage output is written into the concatenation buffer its decoder reads
      int64_t cat = st.cout;
      for (const StageSpec& d : specs)
        if (i < 4 && d.name[0] == 'd' && d.level == st.level) cat = d.cin;
      for (const auto& [cin, cout, y_stride] :
           {std::tuple<int64_t, int64_t, int64_t>{st.cin, st.cmid, st.cmid * hw}, {st.cmid, st.cout, cat * hw}})
        for (const BranchKind& k : kConvBranches) {
          INFO(st.name << " N " << n << " " << h << " x " << w << " " << cin << " -> " << cout << " " << k.name
                       << " y batch stride " << y_stride);
          CHECK_NOTHROW(check_conv_descriptors(Shape{n, cin, h, w}, cin * hw, Shape{cout, cin, k.kh, k.kw},
                                               Shape{n, cout, h, w}, y_stride));
          ++described;
        }
    }
    for (int s = 0; s < kNumScales; ++s) {  // head_s: 1x1 on d_s, one logit channel
      const int64_t h = size >> s, hw = h * h;
      INFO("head " << s << " N " << n << " " << h << " x " << h);
      CHECK_NOTHROW(
          check_conv_descriptors(Shape{n, hc[s], h, h}, hc[s] * hw, Shape{1, hc[s], 1, 1}, Shape{n, 1, h, h}, hw));
      ++described;
    }
  }
  CHECK(described == 3 * (9 * 2 * 4 + 4));
}

TEST_CASE("what cuDNN would reject is an srmds::Error before any GPU work", "[cudnn][descriptors]") {
  // past 2^31 elements: (128, 64, 512, 512)
  REQUIRE_THROWS_WITH(check_conv_descriptors(Shape{128, 64, 512, 512}, 64 * 512 * 512, Shape{64, 64, 3, 3},
                                             Shape{128, 64, 512, 512}, 64 * 512 * 512),
                      Catch::Contains("2^31 - 1"));
  // an output that is not the convolution's ("same" padding keeps H and W)
  REQUIRE_THROWS_WITH(
      check_conv_descriptors(Shape{2, 3, 8, 8}, 192, Shape{4, 3, 3, 3}, Shape{2, 4, 8, 9}, 4 * 72),
      Catch::Contains("not y [2, 4, 8, 9]"));
}

#else

TEST_CASE("cuDNN descriptors: built without the CUDA backend", "[cudnn][descriptors]") {
  WARN("SRMDS_WITH_CUDA=0: no cuDNN to describe convolutions to");
}

#endif
