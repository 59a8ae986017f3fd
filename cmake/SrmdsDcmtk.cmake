# DCMTK (Debian libdcmtk-dev) writes DICOM Segmentation objects (io/dicom_seg.hpp, issue 22). It is
# optional: SRMDS_WITH_DCMTK (default ON) uses it when its CMake package is found; without it the
# library builds and a request for DICOM SEG output is refused with an error saying so.
option(SRMDS_WITH_DCMTK "Write DICOM Segmentation objects with DCMTK's dcmseg (when found)" ON)
set(SRMDS_DCMTK_ENABLED OFF)
if(SRMDS_WITH_DCMTK)
  find_package(DCMTK CONFIG QUIET)
  if(DCMTK_FOUND AND TARGET DCMTK::dcmseg)
    set(SRMDS_DCMTK_ENABLED ON)
    message(STATUS "srmds: DICOM SEG output with DCMTK ${DCMTK_VERSION}")
  else()
    message(STATUS "srmds: DCMTK not found (libdcmtk-dev): this build cannot write DICOM SEG")
  endif()
endif()

# srmds_link_dcmtk(target): the DCMTK libraries dcmseg needs; only src/io/dicom_seg.cpp sees
# SRMDS_HAVE_DCMTK (0 or 1) and DCMTK's headers.
function(srmds_link_dcmtk target)
  if(SRMDS_DCMTK_ENABLED)
    target_link_libraries(${target} PRIVATE DCMTK::dcmseg DCMTK::dcmfg DCMTK::dcmiod DCMTK::dcmdata DCMTK::oflog DCMTK::ofstd)
    set_source_files_properties(src/io/dicom_seg.cpp PROPERTIES COMPILE_DEFINITIONS SRMDS_HAVE_DCMTK=1)
  else()
    set_source_files_properties(src/io/dicom_seg.cpp PROPERTIES COMPILE_DEFINITIONS SRMDS_HAVE_DCMTK=0)
  endif()
endfunction()
