// Linked into the GPU bundle's programs only (srmds_make_portable_binary in SrmdsCuda.cmake).
//
// arc4random: the static libstdc++ of GCC 12 on Debian 12 references it (std::random_device, pulled
// in by libstdc++'s own string code even when the program never makes a random_device), and glibc
// exports it only from version 2.36 on, so the whole program would refuse to start on RHEL 9 or
// Ubuntu 22.04. This definition, found before libc's, keeps the requirement at glibc 2.34. Same
// contract: 32 uniformly random bits, from getrandom(2) (glibc 2.25), /dev/urandom as a fallback.
#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" uint32_t arc4random(void) {
  uint32_t v = 0;
  for (int tries = 0; tries < 100; ++tries) {
    const ssize_t n = getrandom(&v, sizeof v, 0);
    if (n == static_cast<ssize_t>(sizeof v)) return v;
    if (n < 0 && errno != EINTR) break;
  }
  if (FILE* f = std::fopen("/dev/urandom", "rb")) {
    const size_t got = std::fread(&v, sizeof v, 1, f);
    std::fclose(f);
    if (got == 1) return v;
  }
  std::fputs("arc4random: no source of randomness (getrandom and /dev/urandom failed)\n", stderr);
  std::abort();  // as glibc's arc4random does when the kernel gives no randomness
}
