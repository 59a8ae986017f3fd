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
