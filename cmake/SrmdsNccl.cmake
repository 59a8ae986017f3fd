# NCCL for data-parallel training on GPUs (dist/nccl_communicator.hpp, issue 23). Optional:
# SRMDS_WITH_NCCL=AUTO uses it where the CUDA backend is built and nccl.h is found (the CUDA
# toolkit's include folder, or NCCL_ROOT/include, e.g. PyTorch's site-packages/nvidia/nccl), ON
# requires it, OFF leaves it out. Several processes also need MPI (SRMDS_WITH_MPI) to start and to
# bootstrap NCCL; without MPI the communicator still serves one process (the GPU bundle, built
# without MPI, tests it that way). Only the header is needed at build time: the library
# (libnccl.so.2) is loaded at run time by src/dist/nccl_communicator.cpp, the one file that sees
# SRMDS_HAVE_NCCL and <nccl.h>; the library links libdl for it.
set(SRMDS_WITH_NCCL "AUTO" CACHE STRING "Gradients reduced on GPUs with NCCL: ON, OFF or AUTO (ON with CUDA, MPI and nccl.h)")
set_property(CACHE SRMDS_WITH_NCCL PROPERTY STRINGS AUTO ON OFF)
set(SRMDS_NCCL_ENABLED OFF)
if(NOT SRMDS_WITH_NCCL STREQUAL "OFF")
  if(SRMDS_CUDA_ENABLED)
    find_path(SRMDS_NCCL_INCLUDE_DIR nccl.h
              HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda
              PATH_SUFFIXES include)
    if(SRMDS_NCCL_INCLUDE_DIR)
      set(SRMDS_NCCL_ENABLED ON)
    endif()
  endif()
  if(NOT SRMDS_NCCL_ENABLED AND SRMDS_WITH_NCCL STREQUAL "ON")
    message(FATAL_ERROR "SRMDS_WITH_NCCL=ON needs the CUDA backend (SRMDS_CUDA_ENABLED=${SRMDS_CUDA_ENABLED}) and "
                        "nccl.h (set NCCL_ROOT)")
  endif()
endif()
message(STATUS "srmds: NCCL gradient reduction ${SRMDS_NCCL_ENABLED}")

# srmds_link_nccl(target): the NCCL header for the one file that uses it, and libdl.
function(srmds_link_nccl target)
  if(SRMDS_NCCL_ENABLED)
    set_source_files_properties(src/dist/nccl_communicator.cpp PROPERTIES COMPILE_DEFINITIONS SRMDS_HAVE_NCCL=1
                                INCLUDE_DIRECTORIES "${SRMDS_NCCL_INCLUDE_DIR}")
    target_link_libraries(${target} PRIVATE ${CMAKE_DL_LIBS})
  else()
    set_source_files_properties(src/dist/nccl_communicator.cpp PROPERTIES COMPILE_DEFINITIONS SRMDS_HAVE_NCCL=0)
  endif()
endfunction()
