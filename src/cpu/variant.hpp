// Included first by every kernel translation unit (src/cpu/*.cpp). cmake/SrmdsCpuKernels.cmake
// compiles each of them once per ISA level, with SRMDS_CPU_ISA = baseline, avx2 or avx512 and that
// level's -m flags; a file defines its kernels as templates in namespace
// srmds::cpu::SRMDS_CPU_ISA and instantiates them for float and double (SRMDS_CPU_INSTANTIATE);
// kernel_table.cpp stores their addresses in the variant's KernelTable (src/cpu/kernel_list.hpp).
// Why the variants cannot leak code into each other, and how one is chosen at run time:
// src/cpu/dispatch/isa.cpp.
#pragma once

#ifndef SRMDS_CPU_ISA
#error "src/cpu/*.cpp are compiled once per ISA level by cmake/SrmdsCpuKernels.cmake (SRMDS_CPU_ISA is undefined)"
#endif

#include "kernel_table.hpp"
