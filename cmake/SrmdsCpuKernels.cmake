# srmds_add_cpu_kernels(target): the CPU kernels src/cpu/*.cpp compiled once per ISA level
# (baseline, and on x86-64 also avx2 and avx512), each variant with its own namespace and its own
# Eigen namespace, combined into one object whose only global symbol is srmds_cpu_kernels_<isa>,
# and added to `target`; src/cpu/dispatch/isa.cpp chooses a variant at run time. Why each step:
# the header comment of src/cpu/dispatch/isa.cpp.
include_guard(GLOBAL)
include(CheckCXXCompilerFlag)

set(SRMDS_CPU_ISAS baseline)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  list(APPEND SRMDS_CPU_ISAS avx2 avx512)
endif()
# SRMDS_CPU_BASELINE_ONLY=ON builds the baseline variant alone (a third of the kernel compile time;
# the sanitizer and fuzz builds use it, the per-ISA variants are tested in the normal build).
option(SRMDS_CPU_BASELINE_ONLY "Compile only the baseline x86-64 CPU kernels (no AVX2/AVX-512 variants)" OFF)
if(SRMDS_CPU_BASELINE_ONLY)
  set(SRMDS_CPU_ISAS baseline)
endif()
set(SRMDS_CPU_FLAGS_baseline "")
set(SRMDS_CPU_FLAGS_avx2 -mavx2 -mfma)
set(SRMDS_CPU_FLAGS_avx512 -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma)

# Combining a variant's objects needs GNU ld (-r --force-group-allocation) and objcopy.
set(SRMDS_CPU_COMBINE OFF)
if(CMAKE_LINKER AND CMAKE_OBJCOPY)
  execute_process(COMMAND "${CMAKE_LINKER}" --help OUTPUT_VARIABLE _srmds_ld_help ERROR_QUIET RESULT_VARIABLE _srmds_ld_rc)
  if(_srmds_ld_rc EQUAL 0 AND _srmds_ld_help MATCHES "force-group-allocation")
    set(SRMDS_CPU_COMBINE ON)
  endif()
endif()
if(NOT SRMDS_CPU_COMBINE)
  message(WARNING "srmds: GNU ld/objcopy not found: the CPU kernel variants are linked without localising their "
                  "symbols (see src/cpu/dispatch/isa.cpp)")
endif()
# Static locals of inline functions as weak (not STB_GNU_UNIQUE) symbols, which objcopy can localise.
check_cxx_compiler_flag(-fno-gnu-unique SRMDS_HAVE_NO_GNU_UNIQUE)
set(SRMDS_CPU_HIDDEN -fvisibility=hidden -fvisibility-inlines-hidden $<$<BOOL:${SRMDS_HAVE_NO_GNU_UNIQUE}>:-fno-gnu-unique>)
message(STATUS "srmds: CPU kernel variants: ${SRMDS_CPU_ISAS}")

function(srmds_add_cpu_kernels target)
  file(GLOB kernel_sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/src/cpu/*.cpp")
  foreach(isa ${SRMDS_CPU_ISAS})
    set(objlib srmds_cpu_${isa})
    add_library(${objlib} OBJECT ${kernel_sources})
    target_compile_definitions(${objlib} PRIVATE SRMDS_CPU_ISA=${isa} Eigen=srmds_eigen_${isa})
    target_compile_options(${objlib} PRIVATE ${SRMDS_CPU_FLAGS_${isa}} ${SRMDS_CPU_HIDDEN})
    target_include_directories(${objlib} PRIVATE "${PROJECT_SOURCE_DIR}/include")
    target_link_libraries(${objlib} PRIVATE Eigen3::Eigen OpenMP::OpenMP_CXX srmds_warnings)
    # GCC 12 reports false maybe-uninitialized warnings from its AVX-512 intrinsic headers via Eigen.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      target_compile_options(${objlib} PRIVATE -Wno-maybe-uninitialized)
    endif()
    set_target_properties(${objlib} PROPERTIES POSITION_INDEPENDENT_CODE ON)
    if(SRMDS_CPU_COMBINE)
      set(combined "${CMAKE_CURRENT_BINARY_DIR}/srmds_cpu_${isa}.o")
      add_custom_command(OUTPUT "${combined}"
        COMMAND "${CMAKE_LINKER}" -r --force-group-allocation -o "${combined}.tmp" "$<TARGET_OBJECTS:${objlib}>"
        COMMAND "${CMAKE_OBJCOPY}" --keep-global-symbol=srmds_cpu_kernels_${isa} "${combined}.tmp" "${combined}"
        COMMAND "${CMAKE_COMMAND}" -E rm -f "${combined}.tmp"
        DEPENDS ${objlib} "$<TARGET_OBJECTS:${objlib}>"
        COMMAND_EXPAND_LISTS VERBATIM
        COMMENT "Combining the ${isa} CPU kernels into one object with one global symbol")
      set_source_files_properties("${combined}" PROPERTIES EXTERNAL_OBJECT ON GENERATED ON)
      target_sources(${target} PRIVATE "${combined}")
    else()
      target_sources(${target} PRIVATE $<TARGET_OBJECTS:${objlib}>)
    endif()
  endforeach()
  if("avx512" IN_LIST SRMDS_CPU_ISAS)
    target_compile_definitions(${target} PRIVATE SRMDS_CPU_X86_VARIANTS=1)
  endif()
endfunction()
