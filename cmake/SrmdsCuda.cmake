# Decides SRMDS_CUDA_ENABLED from SRMDS_WITH_CUDA (ON / OFF / AUTO) and provides
#   srmds_add_cuda_sources(target)   the CUDA backend, kernels/*.cu and kernels/*.cpp: the CUDA
#                                    runtime linked statically, cuDNN dynamically (the only CUDA
#                                    library it uses); every .cu compiled with -lineinfo (line
#                                    tables for compute-sanitizer and profilers, no code change)
#   srmds_cuda_internal              an interface target for the project's own CUDA tests (and tools):
#                                    the internal headers of kernels/ ("kernels/check.hpp",
#                                    "kernels/cudnn.hpp"), which are not installed
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
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -lineinfo>)
endfunction()

if(SRMDS_CUDA_ENABLED AND NOT TARGET srmds_cuda_internal)
  add_library(srmds_cuda_internal INTERFACE)
  target_include_directories(srmds_cuda_internal INTERFACE "${PROJECT_SOURCE_DIR}")
endif()
