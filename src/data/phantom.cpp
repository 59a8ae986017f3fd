// Synthetic chest-CT phantom generator (see data/phantom.hpp).
#include "srmds/data/phantom.hpp"

#include <algorithm>
#include <cmath>

#include "srmds/core/error.hpp"
#include "srmds/core/rng.hpp"
#include "srmds/data/resize.hpp"

namespace srmds {

namespace {

constexpr double kPi = 3.14159265358979323846;

struct Ellipse {
  double cu, cv, au, av, angle;  // centre, semi-axes, rotation
  // Squared normalised radius: < 1 inside.
  double r2(double u, double v) const {
    const double c = std::cos(angle), s = std::sin(angle);
    const double du = u - cu, dv = v - cv;
    const double x = (c * du + s * dv) / au, y = (-s * du + c * dv) / av;
    return x * x + y * y;
  }
};

// Smooth random field: normal values on a (g x g) grid, bilinearly upsampled to (H, W).
std::vector<float> smooth_field(int H, int W, int grid, Rng& rng) {
  std::vector<float> coarse(static_cast<size_t>(grid) * static_cast<size_t>(grid));
  for (auto& c : coarse) c = static_cast<float>(rng.normal());
  std::vector<float> out(static_cast<size_t>(H) * static_cast<size_t>(W));
  resize_bilinear(coarse.data(), grid, grid, out.data(), H, W);
  return out;
}

struct Lesion {
  double cu, cv, r0;
  double a[4], phi[4];  // harmonics k = 2..5
  double hu;
  uint8_t label;
  double radius(double theta) const {
    double f = 1.0;
    for (int k = 0; k < 4; ++k) f += a[k] * std::cos((k + 2) * theta + phi[k]);
    return r0 * f;
  }
};

}  // namespace

uint64_t phantom_slice_seed(uint64_t seed, int volume, int slice) {
  uint64_t x = seed ^ (0x9E3779B97F4A7C15ull * (static_cast<uint64_t>(volume) + 1));
  x = (x ^ (x >> 31)) * 0xBF58476D1CE4E5B9ull;
  x ^= 0xD1B54A32D192ED03ull * (static_cast<uint64_t>(slice) + 1);
  return x ^ (x >> 29);
}

PhantomSlice generate_phantom(int H, int W, uint64_t seed) {
  SRMDS_CHECK(H >= 16 && W >= 16 && H <= 8192 && W <= 8192,
              "generate_phantom: size " << H << " x " << W << " must be in [16, 8192]");
  Rng rng(seed);
  PhantomSlice s;
  s.height = H;
  s.width = W;
  const size_t n = static_cast<size_t>(H) * static_cast<size_t>(W);
  s.hu.assign(n, -1000.0f);
  s.labels.assign(n, 0);

  // Anatomy parameters.
  const Ellipse body{rng.uniform(-0.03, 0.03), rng.uniform(-0.03, 0.03), rng.uniform(0.80, 0.92),
                     rng.uniform(0.62, 0.76), rng.uniform(-0.04, 0.04)};
  const double fat = rng.uniform(0.05, 0.10);  // rim thickness (fraction of the body radius)
  Ellipse lungs[2];
  for (int side = 0; side < 2; ++side) {
    const double sign = side == 0 ? -1.0 : 1.0;
    lungs[side] = Ellipse{body.cu + sign * body.au * rng.uniform(0.40, 0.46), body.cv - body.av * rng.uniform(0.0, 0.08),
                          body.au * rng.uniform(0.27, 0.33), body.av * rng.uniform(0.58, 0.72),
                          sign * rng.uniform(0.0, 0.15)};
  }
  const Ellipse heart{body.cu + body.au * rng.uniform(0.02, 0.10), body.cv + body.av * rng.uniform(0.05, 0.20),
                      body.au * rng.uniform(0.18, 0.24), body.av * rng.uniform(0.30, 0.38), rng.uniform(-0.5, 0.5)};
  const double spine_r = body.av * rng.uniform(0.10, 0.13);
  const Ellipse spine{body.cu, body.cv + body.av * 0.78, spine_r, spine_r, 0};
  const Ellipse sternum{body.cu, body.cv - body.av * 0.86, body.au * 0.06, body.av * 0.05, 0};
  std::vector<Ellipse> ribs;
  const int n_ribs = 8 + static_cast<int>(rng.below(5));
  for (int r = 0; r < n_ribs; ++r) {
    // Angles away from the anterior/posterior midline (where sternum and spine are).
    double t = rng.uniform(0.35, kPi - 0.35);
    if (r % 2) t = -t;
    const double ru = body.cu + 0.90 * body.au * std::cos(t), rv = body.cv + 0.90 * body.av * std::sin(t);
    const double sz = rng.uniform(0.025, 0.04);
    ribs.push_back({ru, rv, sz * 1.6, sz, t + kPi / 2});
  }

  // Vessels: short segments inside the lungs.
  struct Segment {
    double u0, v0, u1, v1, r, hu;
  };
  std::vector<Segment> vessels;
  for (int side = 0; side < 2; ++side) {
    const int n_v = 12 + static_cast<int>(rng.below(12));
    for (int i = 0; i < n_v; ++i) {
      const double t = rng.uniform(0, 2 * kPi), rr = std::sqrt(rng.uniform(0.0, 0.8));
      const Ellipse& L = lungs[side];
      const double u0 = L.cu + rr * L.au * std::cos(t), v0 = L.cv + rr * L.av * std::sin(t);
      const double dir = rng.uniform(0, 2 * kPi), len = rng.uniform(0.02, 0.10);
      vessels.push_back({u0, v0, u0 + len * std::cos(dir), v0 + len * std::sin(dir), rng.uniform(0.006, 0.016),
                         rng.uniform(0.0, 60.0)});
    }
  }

  // Lesions.
  std::vector<Lesion> lesions;
  if (rng.uniform() < 0.85) {
    const int count = 1 + static_cast<int>(rng.below(4));
    for (int i = 0; i < count; ++i) {
      const Ellipse& L = lungs[rng.below(2)];
      const double t = rng.uniform(0, 2 * kPi), rr = std::sqrt(rng.uniform(0.0, 0.6));
      Lesion le;
      le.cu = L.cu + rr * L.au * std::cos(t);
      le.cv = L.cv + rr * L.av * std::sin(t);
      le.r0 = rng.uniform(0.04, 0.15) * std::min(L.au, L.av) / 0.25;
      for (int k = 0; k < 4; ++k) {
        le.a[k] = rng.uniform(0.0, 0.28 / (k + 1));
        le.phi[k] = rng.uniform(0, 2 * kPi);
      }
      const bool ggo = rng.uniform() < 0.6;
      le.label = ggo ? 1 : 2;
      le.hu = ggo ? rng.uniform(-700.0, -300.0) : rng.uniform(-100.0, 50.0);
      lesions.push_back(le);
    }
  }
  s.lesion_count = static_cast<int>(lesions.size());

  // Textures and noise level.
  const std::vector<float> tex_coarse = smooth_field(H, W, 7, rng);
  const std::vector<float> tex_fine = smooth_field(H, W, 23, rng);
  const std::vector<float> lesion_tex = smooth_field(H, W, 15, rng);
  s.noise_sigma = rng.uniform(20.0, 40.0);
  const double edge = 2.5 / std::min(H, W);  // soft lesion edge: ~1.25 pixels either side

  for (int y = 0; y < H; ++y) {
    const double v = (y + 0.5) / H * 2.0 - 1.0;
    for (int x = 0; x < W; ++x) {
      const double u = (x + 0.5) / W * 2.0 - 1.0;
      const size_t i = static_cast<size_t>(y) * static_cast<size_t>(W) + static_cast<size_t>(x);
      const double tc = tex_coarse[i], tf = tex_fine[i];
      double hu = -1000.0;
      const double rb = body.r2(u, v);
      if (rb < 1.0) {
        hu = std::sqrt(rb) > 1.0 - fat ? -100.0 + 10.0 * tc : 40.0 + 8.0 * tc;
        if (heart.r2(u, v) < 1.0) hu = 45.0 + 5.0 * tf;
        int lung = -1;
        for (int side = 0; side < 2; ++side)
          if (lungs[side].r2(u, v) < 1.0) lung = side;
        if (lung >= 0) {
          hu = -850.0 + 18.0 * tc + 10.0 * tf;
          for (const Segment& sg : vessels) {
            const double du = sg.u1 - sg.u0, dv = sg.v1 - sg.v0;
            const double t = std::clamp(((u - sg.u0) * du + (v - sg.v0) * dv) / (du * du + dv * dv), 0.0, 1.0);
            const double eu = u - (sg.u0 + t * du), ev = v - (sg.v0 + t * dv);
            const double d2 = eu * eu + ev * ev;
            if (d2 < sg.r * sg.r) hu = sg.hu;
          }
          for (const Lesion& le : lesions) {
            const double du = u - le.cu, dv = v - le.cv;
            const double d = std::sqrt(du * du + dv * dv);
            if (d > 2.0 * le.r0 + edge) continue;  // the outline never exceeds 2 r0
            const double w = std::clamp((le.radius(std::atan2(dv, du)) - d) / (2.0 * edge) + 0.5, 0.0, 1.0);
            if (w <= 0.0) continue;
            hu = (1.0 - w) * hu + w * (le.hu + 30.0 * lesion_tex[i]);
            if (w >= 0.5) s.labels[i] = le.label;
          }
        }
        const double rsp = spine.r2(u, v);
        bool bone = false;
        if (rsp < 1.0) {
          hu = rsp > 0.6 ? 700.0 : 250.0 + 20.0 * tf;
          bone = true;
        }
        if (sternum.r2(u, v) < 1.0) {
          hu = 400.0;
          bone = true;
        }
        for (const Ellipse& rib : ribs)
          if (rib.r2(u, v) < 1.0) {
            hu = 500.0;
            bone = true;
          }
        if (bone) s.labels[i] = 0;  // bone covers the lung edge, lesion labels included
      }
      hu += s.noise_sigma * rng.normal();
      s.hu[i] = static_cast<float>(std::clamp(std::nearbyint(hu), -1024.0, 3071.0));
    }
  }
  return s;
}

}  // namespace srmds
