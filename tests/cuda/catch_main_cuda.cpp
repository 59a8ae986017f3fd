// Catch2 main for the CUDA parity tests:
//   - exits 77 (reported by ctest as skipped) when no GPU can be used, so a machine without a GPU
//     never counts these tests as passed;
//   - prints the base random seed first: every input comes from fresh_seed() (tests/support/
//     testing.hpp), which counts up from SRMDS_TEST_SEED. Unset, a fresh seed is drawn and put into
//     the environment here, so `SRMDS_TEST_SEED=<printed value> <program> <same test selection>`
//     replays a failing run exactly;
//   - `--srmds-device-info` prints the device, driver, runtime and cuDNN versions as this program
//     sees them and exits (0, or 77 without a usable GPU): run.sh's first step;
//   - `--list-*` (Catch's listings) works without a GPU.
// Built with SRMDS_CUDA_STANDIN=1 (test_cuda_standin: the same test bodies on the CPU stand-in
// device, tests/cuda/parity.hpp) it prints the seed and runs the tests; there is no GPU to look for.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#if !SRMDS_CUDA_STANDIN
#include <cuda_runtime.h>
#include <cudnn.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <string>

#include "support/testing.hpp"

#if !SRMDS_CUDA_STANDIN
namespace {

// One line: device name, compute capability, SMs, memory; driver, runtime and cuDNN versions.
int print_device_info() {
  int driver = 0, runtime = 0, count = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  const cudaError_t err = cudaGetDeviceCount(&count);
  std::printf("cuda_driver=%d cuda_runtime=%d cudnn=%zu\n", driver, runtime, cudnnGetVersion());
  if (err != cudaSuccess || count == 0) {
    std::printf("no CUDA device: %s\n", err == cudaSuccess ? "none found" : cudaGetErrorString(err));
    return 77;
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, d) != cudaSuccess) continue;
    std::printf("device %d: %s, compute capability %d.%d, %d SMs, %.1f GiB\n", d, p.name, p.major, p.minor,
                p.multiProcessorCount, static_cast<double>(p.totalGlobalMem) / (1u << 30));
  }
  return 0;
}

}  // namespace
#endif

int main(int argc, char** argv) {
#if !SRMDS_CUDA_STANDIN
  if (argc > 1 && std::string(argv[1]) == "--srmds-device-info") return print_device_info();
#endif
  bool listing = false;
  for (int i = 1; i < argc; ++i) listing = listing || std::string(argv[i]).rfind("--list", 0) == 0;
  if (listing) return Catch::Session().run(argc, argv);
  if (!std::getenv("SRMDS_TEST_SEED"))
    setenv("SRMDS_TEST_SEED", std::to_string(srmds::test::entropy_seed()).c_str(), 1);
  std::printf("SRMDS_TEST_SEED=%s (set it to replay these inputs)\n", std::getenv("SRMDS_TEST_SEED"));
  std::fflush(stdout);
#if !SRMDS_CUDA_STANDIN
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    std::printf("SKIPPED: no CUDA device (%s)\n", err == cudaSuccess ? "none found" : cudaGetErrorString(err));
    return 77;
  }
#endif
  return Catch::Session().run(argc, argv);
}
