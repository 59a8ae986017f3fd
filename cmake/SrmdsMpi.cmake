# MPI (Debian libopenmpi-dev) for data-parallel training (dist/communicator.hpp, issue 23).
# Optional: SRMDS_WITH_MPI=AUTO uses it where CMake's FindMPI finds it (component CXX: MPI's C API
# called from C++), ON requires it, OFF leaves it out (srmds train then runs in one process, and a
# launch of several processes is refused with an error saying the build has no MPI). Only
# src/dist/mpi_communicator.cpp sees SRMDS_HAVE_MPI and <mpi.h>; the library links MPI::MPI_CXX
# privately (and the exported package finds it again).
set(SRMDS_WITH_MPI "AUTO" CACHE STRING "Data-parallel training over MPI: ON, OFF or AUTO (ON when MPI is found)")
set_property(CACHE SRMDS_WITH_MPI PROPERTY STRINGS AUTO ON OFF)
set(SRMDS_MPI_ENABLED OFF)
if(NOT SRMDS_WITH_MPI STREQUAL "OFF")
  find_package(MPI COMPONENTS CXX QUIET)
  if(MPI_CXX_FOUND)
    set(SRMDS_MPI_ENABLED ON)
  elseif(SRMDS_WITH_MPI STREQUAL "ON")
    message(FATAL_ERROR "SRMDS_WITH_MPI=ON but MPI was not found (Debian: libopenmpi-dev)")
  endif()
endif()
message(STATUS "srmds: MPI data-parallel training ${SRMDS_MPI_ENABLED}")

# srmds_link_mpi(target): MPI for the library target, and the macro for the one file that uses it.
function(srmds_link_mpi target)
  if(SRMDS_MPI_ENABLED)
    target_link_libraries(${target} PRIVATE MPI::MPI_CXX)
    set_source_files_properties(src/dist/mpi_communicator.cpp PROPERTIES COMPILE_DEFINITIONS SRMDS_HAVE_MPI=1)
  else()
    set_source_files_properties(src/dist/mpi_communicator.cpp PROPERTIES COMPILE_DEFINITIONS SRMDS_HAVE_MPI=0)
  endif()
endfunction()
