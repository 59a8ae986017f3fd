# Third-party packages, all from Debian (scripts/install-deps.sh installs them).
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(OpenMP REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
# Debian's NIFTIConfig.cmake points at /usr/lib instead of the multiarch folder, so nifti_clib is
# found by hand: -lnifti2 -lznz, headers in <prefix>/include/nifti.
find_path(NIFTI_INCLUDE_DIR nifti2_io.h PATH_SUFFIXES nifti REQUIRED)
find_library(NIFTI2_LIBRARY nifti2 REQUIRED)
find_library(ZNZ_LIBRARY znz REQUIRED)
find_package(ZLIB REQUIRED)
find_path(STB_INCLUDE_DIR stb_image_write.h PATH_SUFFIXES stb REQUIRED)
# GDCM reads DICOM (io/dicom.hpp); its package also describes VTK bindings unless told to skip them.
set(GDCM_SKIP_USE_VTK ON)
find_package(GDCM 3 REQUIRED)
# ONNX export (srmds export, io/onnx_export.hpp) is optional: SRMDS_WITH_ONNX=AUTO builds it where
# Debian's libonnx-dev (ONNXConfig.cmake, target onnx_proto) and libprotobuf-dev are found, ON
# requires them, OFF leaves them out (srmds export then says that the build has no ONNX support).
set(SRMDS_WITH_ONNX "AUTO" CACHE STRING "Build the ONNX export: ON, OFF or AUTO (ON when libonnx-dev and protobuf are found)")
set_property(CACHE SRMDS_WITH_ONNX PROPERTY STRINGS AUTO ON OFF)
set(SRMDS_ONNX_ENABLED OFF)
if(NOT SRMDS_WITH_ONNX STREQUAL "OFF")
  find_package(Protobuf QUIET)
  if(Protobuf_FOUND)
    find_package(ONNX CONFIG QUIET)
  endif()
  if(Protobuf_FOUND AND ONNX_FOUND AND TARGET onnx_proto)
    set(SRMDS_ONNX_ENABLED ON)
  elseif(SRMDS_WITH_ONNX STREQUAL "ON")
    message(FATAL_ERROR "SRMDS_WITH_ONNX=ON but libonnx-dev (ONNXConfig.cmake) or protobuf was not found")
  endif()
endif()
message(STATUS "srmds: ONNX export ${SRMDS_ONNX_ENABLED}")
