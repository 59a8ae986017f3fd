# Decides SRMDS_CUDA_ENABLED from SRMDS_WITH_CUDA (ON / OFF / AUTO) and provides
#   srmds_add_cuda_sources(target)   the CUDA backend, kernels/*.cu and kernels/*.cpp: the CUDA
#                                    runtime linked statically, cuDNN dynamically (the only CUDA
#                                    library it uses); every .cu compiled with -lineinfo (line
#                                    tables for compute-sanitizer and profilers, no code change)
#                                    and ptxas's warnings for register spills and local memory
#                                    (-warn-spills, -warn-lmem-usage: the build log must show none)
#   srmds_cuda_internal              an interface target for the project's own CUDA tests and GPU
#                                    benchmark: the internal headers of kernels/ ("kernels/check.hpp",
#                                    "kernels/cudnn.hpp"), which are not installed
#   srmds_make_portable_binary(t)    links executable t for another machine (the GPU bundle,
#                                    scripts/gpu-bundle.sh): libstdc++ and libgomp static (the CUDA
#                                    runtime is already), --as-needed (unused shared libraries are
#                                    not recorded), no RPATH, plus cmake/glibc_compat.cpp; left to
#                                    the machine: glibc 2.34 or newer, the CUDA driver (loaded by the
#                                    runtime), cuDNN, and libgcc_s, which cuDNN needs itself (a
#                                    static libgcc would raise the glibc needed to 2.35).
set(SRMDS_CUDA_ENABLED OFF)
if(NOT SRMDS_WITH_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
    find_library(CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
    if(CUDNN_INCLUDE_DIR AND CUDNN_LIBRARY)
      set(SRMDS_CUDA_ENABLED ON)
    endif()
  endif()
  if(SRMDS_WITH_CUDA STREQUAL "ON" AND NOT SRMDS_CUDA_ENABLED)
    message(FATAL_ERROR "SRMDS_WITH_CUDA=ON but nvcc or cuDNN was not found")
  endif()
endif()
message(STATUS "srmds: CUDA backend ${SRMDS_CUDA_ENABLED}")

function(srmds_add_cuda_sources target)
  file(GLOB cuda_sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/kernels/*.cu" "${PROJECT_SOURCE_DIR}/kernels/*.cpp")
  target_sources(${target} PRIVATE ${cuda_sources})
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${CUDNN_INCLUDE_DIR}>)
  target_link_libraries(${target} PUBLIC CUDA::cudart_static ${CUDNN_LIBRARY})
  set_target_properties(${target} PROPERTIES CUDA_SEPARABLE_COMPILATION OFF CUDA_STANDARD 17)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -lineinfo -Xptxas=-warn-spills,-warn-lmem-usage>)
endfunction()

if(SRMDS_CUDA_ENABLED AND NOT TARGET srmds_cuda_internal)
  add_library(srmds_cuda_internal INTERFACE)
  target_include_directories(srmds_cuda_internal INTERFACE "${PROJECT_SOURCE_DIR}")
endif()

# libgomp.a of the compiler in use (GCC ships it beside libgomp.so).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND NOT SRMDS_GOMP_STATIC)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libgomp.a OUTPUT_VARIABLE gomp_a
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(gomp_a AND IS_ABSOLUTE "${gomp_a}" AND EXISTS "${gomp_a}")
    set(SRMDS_GOMP_STATIC "${gomp_a}" CACHE FILEPATH "Static OpenMP runtime for the GPU bundle")
  endif()
endif()

function(srmds_make_portable_binary target)
  # No RPATH either: run.sh finds cuDNN on the machine and puts it on LD_LIBRARY_PATH.
  set_target_properties(${target} PROPERTIES SKIP_BUILD_RPATH TRUE INSTALL_RPATH "")
  target_link_options(${target} PRIVATE -static-libstdc++ LINKER:--as-needed)
  # arc4random for the static libstdc++, so that glibc 2.34 suffices (see the file).
  target_sources(${target} PRIVATE "${PROJECT_SOURCE_DIR}/cmake/glibc_compat.cpp")
  if(SRMDS_GOMP_STATIC)
    # Resolves the GOMP_/omp_ symbols before the driver's -lgomp (added by -fopenmp) is reached;
    # with --as-needed the shared libgomp is then not recorded.
    target_link_libraries(${target} PRIVATE "${SRMDS_GOMP_STATIC}")
  endif()
endfunction()
