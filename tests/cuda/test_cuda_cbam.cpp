// CBAM forward (output, both gates, pooled map, argmax positions) and backward (dx and the four
// parameter gradients) against the CPU backend, both write modes, strided channel views, in place.
#include "parity.hpp"
#include "srmds/ops/cbam.hpp"

using namespace srmds;
using namespace srmds::test;

namespace {
Tensor<int32_t, Cpu> download_int(Context<Dut>& g, const Tensor<int32_t, Dut>& d) {
  Tensor<int32_t, Cpu> h(d.shape());
  copy_to_host(g, d, h);
  return h;
}
Tensor<int32_t, Cpu> copy_int(const Tensor<int32_t, Cpu>& t) {
  Tensor<int32_t, Cpu> h(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) h[i] = t[i];
  return h;
}
}  // namespace

TEST_CASE("CBAM forward/backward match the CPU backend", "[cuda][cbam]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  struct Case {
    Shape x;
    int64_t hd;
  };
  for (Case c : cases({Case{Shape{2, 5, 7, 9}, 4}, Case{Shape{1, 64, 16, 12}, 4}, Case{Shape{4, 33, 5, 3}, 8},
                       Case{Shape{2, 4, 1, 1}, 4}, Case{Shape{8, 128, 32, 32}, 8}}))
    for (bool strided : {false, true})
      for (WriteMode mode : {WriteMode::Overwrite, WriteMode::Accumulate}) {
        const Shape& s = c.x;
        INFO("shape " << s << " hidden " << c.hd << " strided " << strided << " accumulate "
                      << (mode == WriteMode::Accumulate));
        const bool acc = mode == WriteMode::Accumulate;
        const int64_t C = s.c(), hd = c.hd;
        const TH x = random_tensor<float>(s, rng), dy = random_tensor<float>(s, rng),
                 dx0 = random_tensor<float>(s, rng);
        const TH w1 = random_tensor<float>(Shape{hd, C, 1, 1}, rng), w2 = random_tensor<float>(Shape{C, hd, 1, 1}, rng);
        const TH ws = random_tensor<float>(Shape{1, 2, 7, 7}, rng, -0.5, 0.5), bs = random_tensor<float>(Shape{1}, rng);
        const TH dw1_0 = random_tensor<float>(w1.shape(), rng), dw2_0 = random_tensor<float>(w2.shape(), rng);
        const TH dws_0 = random_tensor<float>(ws.shape(), rng), dbs_0 = random_tensor<float>(bs.shape(), rng);
        Slot gx(g, s, strided, rng, &x), gdy(g, s, strided, rng, &dy), gy(g, s, strided, rng);
        TD gw1 = from_host(g, w1), gw2 = from_host(g, w2), gws = from_host(g, ws), gbs = from_host(g, bs);
        CbamSaved<float, Dut> gsv = cbam_saved_for<float, Dut>(g, s, hd);
        cbam_forward(g, gx.t, gw1, gw2, gws, gbs, gy.t, gsv);
        const THd xd = as_double(x), w1d = as_double(w1), w2d = as_double(w2), wsd = as_double(ws), bsd = as_double(bs);
        THd ry(s);
        CbamSaved<double, Cpu> rsv = cbam_saved_for<double, Cpu>(cpu, s, hd);
        cbam_forward(cpu, xd, w1d, w2d, wsd, bsd, ry, rsv);
        require_parity(g, gy.t, ry, "cbam y");
        gy.require_outside_untouched(g, "cbam y");
        require_parity(g, gsv.avg, rsv.avg, "cbam avg");
        require_parity(g, gsv.max, rsv.max, "cbam max");
        require_parity(g, gsv.scale, rsv.scale, "cbam scale");
        require_parity(g, gsv.pooled, rsv.pooled, "cbam pooled");
        require_parity(g, gsv.gate, rsv.gate, "cbam gate");
        const auto gmi = download_int(g, gsv.max_index);
        int64_t index_diff = 0;
        for (int64_t i = 0; i < gmi.numel(); ++i) index_diff += gmi[i] != rsv.max_index[i];
        CHECK(index_diff == 0);  // the plane maxima come from the same float inputs

        TD inplace = from_host(g, x);
        CbamSaved<float, Dut> isv = cbam_saved_for<float, Dut>(g, s, hd);
        cbam_forward(g, inplace, gw1, gw2, gws, gbs, inplace, isv);
        require_parity(g, inplace, ry, "cbam y in place");

        // backward from the GPU's saved tensors (the CPU gets the same float values and indices)
        CbamSaved<double, Cpu> fsv;
        fsv.avg = as_double(download(g, gsv.avg));
        fsv.max = as_double(download(g, gsv.max));
        fsv.max_index = copy_int(gmi);
        fsv.hidden_avg = as_double(download(g, gsv.hidden_avg));
        fsv.hidden_max = as_double(download(g, gsv.hidden_max));
        fsv.scale = as_double(download(g, gsv.scale));
        fsv.pooled = as_double(download(g, gsv.pooled));
        fsv.pooled_index = download_int(g, gsv.pooled_index);
        fsv.gate = as_double(download(g, gsv.gate));
        Slot gdx(g, s, strided, rng, acc ? &dx0 : nullptr);
        TD gdw1 = acc ? from_host(g, dw1_0) : TD(w1.shape(), g), gdw2 = acc ? from_host(g, dw2_0) : TD(w2.shape(), g);
        TD gdws = acc ? from_host(g, dws_0) : TD(ws.shape(), g), gdbs = acc ? from_host(g, dbs_0) : TD(bs.shape(), g);
        cbam_backward(g, gx.t, gdy.t, gw1, gw2, gws, gbs, gsv, gdx.t, mode, gdw1, gdw2, gdws, gdbs, mode);
        THd rdx = as_double(dx0), rdw1 = as_double(dw1_0), rdw2 = as_double(dw2_0), rdws = as_double(dws_0),
            rdbs = as_double(dbs_0);
        cbam_backward(cpu, xd, as_double(dy), w1d, w2d, wsd, bsd, fsv, rdx, mode, rdw1, rdw2, rdws, rdbs, mode);
        require_parity(g, gdx.t, rdx, "cbam dx", 1e-4, 1e-4);
        gdx.require_outside_untouched(g, "cbam dx");
        // With every hidden unit of the MLP dead (ReLU input <= 0 for the avg and max vectors of every
        // sample: seen once in 1,000 small draws) both MLP gradients are exactly zero: held to the op's
        // other gradients then (parity.hpp's rule).
        double op_scale = 0;
        for (const THd* r : {&rdx, &rdws, &rdbs}) op_scale = std::max(op_scale, max_abs(*r));
        const bool dead = max_abs(rdw1) == 0 && max_abs(rdw2) == 0;
        require_parity(g, gdw1, rdw1, "cbam dfc1", 1e-4, 1e-4, dead ? op_scale : 0.0);
        require_parity(g, gdw2, rdw2, "cbam dfc2", 1e-4, 1e-4, dead ? op_scale : 0.0);
        require_parity(g, gdws, rdws, "cbam dspatial.weight", 1e-4, 1e-4);
        require_parity(g, gdbs, rdbs, "cbam dspatial.bias", 1e-4, 1e-4);
      }
}
