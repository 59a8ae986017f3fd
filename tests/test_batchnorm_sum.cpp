// ops/batchnorm_sum.hpp on the CPU: the per-BN loop (term 0 with the caller's write mode, the others
// accumulated, in term order), bit for bit what an SRFV block computed before the op existed, for
// float and double; and the checked entry's errors. (The grouped GPU op against this reference:
// tests/cuda/test_cuda_batchnorm_sum.cpp.)
#include <cstring>
#include <vector>

#include "srmds/ops/batchnorm_sum.hpp"
#include "support/testing.hpp"

using namespace srmds;
using namespace srmds::test;

namespace {

template <class T>
bool same_bits(const Tensor<T, Cpu>& a, const Tensor<T, Cpu>& b) {
  if (a.shape() != b.shape()) return false;
  for (int64_t i = 0; i < a.numel(); ++i)
    if (std::memcmp(&a.data()[i], &b.data()[i], sizeof(T)) != 0) return false;
  return true;
}

template <class T>
struct Bn {
  Tensor<T, Cpu> x, gamma, beta, rm, rv, mean, invstd, dx, dgamma, dbeta;
  Bn(const Shape& s, Rng& rng)
      : x(random_tensor<T>(s, rng, -1.0, 3.0)), gamma(random_tensor<T>(Shape{s.c()}, rng, 0.5, 1.5)),
        beta(random_tensor<T>(Shape{s.c()}, rng)), rm(random_tensor<T>(Shape{s.c()}, rng)),
        rv(random_tensor<T>(Shape{s.c()}, rng, 0.5, 2.0)), mean(Shape{s.c()}), invstd(Shape{s.c()}),
        dx(random_tensor<T>(s, rng)), dgamma(random_tensor<T>(Shape{s.c()}, rng)),
        dbeta(random_tensor<T>(Shape{s.c()}, rng)) {}
  Bn(const Bn& o)
      : x(clone(o.x)), gamma(clone(o.gamma)), beta(clone(o.beta)), rm(clone(o.rm)), rv(clone(o.rv)),
        mean(clone(o.mean)), invstd(clone(o.invstd)), dx(clone(o.dx)), dgamma(clone(o.dgamma)),
        dbeta(clone(o.dbeta)) {}
  Bn(Bn&&) noexcept = default;
  static Tensor<T, Cpu> clone(const Tensor<T, Cpu>& t) {
    Tensor<T, Cpu> c(t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) c[i] = t[i];
    return c;
  }
  BatchNormTerm<T, Cpu> term() {
    BatchNormTerm<T, Cpu> t;
    t.x = &x;
    t.gamma = &gamma;
    t.beta = &beta;
    t.running_mean = &rm;
    t.running_var = &rv;
    t.save_mean = &mean;
    t.save_invstd = &invstd;
    t.dx = &dx;
    t.dx_mode = WriteMode::Accumulate;
    t.dgamma = &dgamma;
    t.dbeta = &dbeta;
    return t;
  }
};

template <class T>
void check_loop_bit_for_bit(uint64_t seed) {
  Context<Cpu> ctx;
  Rng rng(seed);
  const Shape s{3, 6, 5, 7};
  for (int count = 1; count <= kMaxBatchNormTerms; ++count)
    for (WriteMode mode : {WriteMode::Overwrite, WriteMode::Accumulate}) {
      INFO("seed " << seed << " terms " << count << " accumulate " << (mode == WriteMode::Accumulate));
      std::vector<Bn<T>> a, b;
      a.reserve(static_cast<size_t>(count));
      b.reserve(static_cast<size_t>(count));
      for (int k = 0; k < count; ++k) {
        a.emplace_back(s, rng);
        b.push_back(a.back());
      }
      const Tensor<T, Cpu> y0 = random_tensor<T>(s, rng), dy = random_tensor<T>(s, rng);
      Tensor<T, Cpu> ya = Bn<T>::clone(y0), yb = Bn<T>::clone(y0);
      std::vector<BatchNormTerm<T, Cpu>> terms;
      for (auto& bn : a) terms.push_back(bn.term());
      batchnorm_sum_forward_train(ctx, terms, 0.1, 1e-5, ya, mode);
      batchnorm_sum_backward(ctx, terms, dy, mode);
      WriteMode m = mode;
      for (auto& bn : b) {  // the loop an SRFV block ran before
        batchnorm_forward_train(ctx, bn.x, bn.gamma, bn.beta, bn.rm, bn.rv, 0.1, 1e-5, yb, m, bn.mean, bn.invstd);
        m = WriteMode::Accumulate;
      }
      for (auto& bn : b)
        batchnorm_backward(ctx, bn.x, dy, bn.gamma, bn.mean, bn.invstd, &bn.dx, WriteMode::Accumulate, &bn.dgamma,
                           &bn.dbeta, mode);
      CHECK(same_bits(ya, yb));
      for (int k = 0; k < count; ++k) {
        const auto& p = a[static_cast<size_t>(k)];
        const auto& q = b[static_cast<size_t>(k)];
        INFO("term " << k);
        CHECK(same_bits(p.rm, q.rm));
        CHECK(same_bits(p.rv, q.rv));
        CHECK(same_bits(p.mean, q.mean));
        CHECK(same_bits(p.invstd, q.invstd));
        CHECK(same_bits(p.dx, q.dx));
        CHECK(same_bits(p.dgamma, q.dgamma));
        CHECK(same_bits(p.dbeta, q.dbeta));
      }
    }
}

}  // namespace

TEST_CASE("batchnorm_sum on the CPU is the per-BN loop, bit for bit", "[batchnorm]") {
  const uint64_t seed = fresh_seed();
  check_loop_bit_for_bit<float>(seed);
  check_loop_bit_for_bit<double>(seed);
  CHECK_FALSE(batchnorm_sum_is_grouped<Cpu>());
}

TEST_CASE("batchnorm_sum's checked entry names what is wrong", "[batchnorm]") {
  Context<Cpu> ctx;
  Rng rng(7);
  const Shape s{2, 4, 3, 3};
  Bn<float> a(s, rng), b(Shape{2, 5, 3, 3}, rng);
  Tensor<float, Cpu> y(s), dy(s);
  std::vector<BatchNormTerm<float, Cpu>> none;
  CHECK_THROWS_WITH(batchnorm_sum_forward_train(ctx, none, 0.1, 1e-5, y, WriteMode::Overwrite),
                    Catch::Contains("0 terms"));
  std::vector<BatchNormTerm<float, Cpu>> six(6, a.term());
  CHECK_THROWS_WITH(batchnorm_sum_backward(ctx, six, dy, WriteMode::Overwrite), Catch::Contains("6 terms"));
  std::vector<BatchNormTerm<float, Cpu>> other{a.term(), b.term()};
  CHECK_THROWS_WITH(batchnorm_sum_forward_train(ctx, other, 0.1, 1e-5, y, WriteMode::Overwrite),
                    Catch::Contains("term 1 x"));
  BatchNormTerm<float, Cpu> no_beta = a.term();
  no_beta.beta = nullptr;
  CHECK_THROWS_WITH(batchnorm_sum_forward_train(ctx, std::vector<BatchNormTerm<float, Cpu>>{no_beta}, 0.1, 1e-5, y,
                                                WriteMode::Overwrite),
                    Catch::Contains("term 0 lacks"));
  CHECK_NOTHROW(batchnorm_sum_backward(ctx, std::vector<BatchNormTerm<float, Cpu>>{no_beta}, dy, WriteMode::Overwrite));
}
