# The chapter in C: one program per section of the seed chapter, and the
# driver `make demo` runs (build/examples/demo). Every examples/*.c is a
# program except the shared modules listed below; a new section joins by
# adding its file. Needs GSL and LAPACKE at build time and gnuplot at run
# time (scripts/deps demo); without GSL or LAPACKE the examples are skipped.
include_guard(GLOBAL)
if(NOT PARC_BUILD_EXAMPLES)   # tests/*.cmake include this file directly
  set(PARC_EXAMPLES_BUILT OFF)
  return()
endif()

set(PARC_EXAMPLE_MODULES reaction.c)
set(PARC_EXAMPLES_BUILT OFF)

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PARC_GSL QUIET IMPORTED_TARGET gsl)
endif()
find_path(PARC_LAPACKE_INCLUDE lapacke.h)
find_library(PARC_LAPACKE_LIB lapacke)
# A BLAS for LAPACK: OpenBLAS when present (its openblas_set_num_threads
# lets svd_batch give each worker one BLAS thread), else the reference BLAS.
find_library(PARC_OPENBLAS_LIB openblas)
find_library(PARC_LAPACK_LIB lapack)
find_library(PARC_BLAS_LIB blas)

if(NOT PARC_GSL_FOUND OR NOT PARC_LAPACKE_INCLUDE OR NOT PARC_LAPACKE_LIB)
  message(STATUS "parc examples skipped: install libgsl-dev liblapacke-dev libopenblas-dev "
                 "gnuplot-nox (scripts/deps demo)")
  return()
endif()

set(PARC_EXAMPLE_LIBS parc PkgConfig::PARC_GSL ${PARC_LAPACKE_LIB})
set(PARC_EXAMPLE_DEFINES _GNU_SOURCE)
if(PARC_OPENBLAS_LIB)
  list(APPEND PARC_EXAMPLE_LIBS ${PARC_OPENBLAS_LIB})
  list(APPEND PARC_EXAMPLE_DEFINES PARC_HAVE_OPENBLAS)
elseif(PARC_LAPACK_LIB AND PARC_BLAS_LIB)
  list(APPEND PARC_EXAMPLE_LIBS ${PARC_LAPACK_LIB} ${PARC_BLAS_LIB})
endif()
list(APPEND PARC_EXAMPLE_LIBS m)

set(PARC_EXAMPLE_DIR ${PROJECT_SOURCE_DIR}/examples)
list(TRANSFORM PARC_EXAMPLE_MODULES PREPEND ${PARC_EXAMPLE_DIR}/)
add_library(parc_example_common STATIC ${PARC_EXAMPLE_MODULES})
target_link_libraries(parc_example_common PUBLIC ${PARC_EXAMPLE_LIBS})
target_include_directories(parc_example_common PUBLIC ${PARC_EXAMPLE_DIR} ${PARC_LAPACKE_INCLUDE})
target_compile_options(parc_example_common PRIVATE ${PARC_WARNINGS})
target_compile_definitions(parc_example_common PUBLIC ${PARC_EXAMPLE_DEFINES})

file(GLOB PARC_EXAMPLE_SOURCES CONFIGURE_DEPENDS ${PARC_EXAMPLE_DIR}/*.c)
list(REMOVE_ITEM PARC_EXAMPLE_SOURCES ${PARC_EXAMPLE_MODULES})
# tests/graph.cmake builds graph_sweep (and its smoke test) itself.
list(REMOVE_ITEM PARC_EXAMPLE_SOURCES ${PARC_EXAMPLE_DIR}/graph_sweep.c)
foreach(source IN LISTS PARC_EXAMPLE_SOURCES)
  get_filename_component(name ${source} NAME_WE)
  if(TARGET ${name})
    continue()
  endif()
  add_executable(${name} ${source})
  target_link_libraries(${name} PRIVATE parc_example_common)
  target_compile_options(${name} PRIVATE ${PARC_WARNINGS})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/examples)
endforeach()

# The driver is a shell script; plots go to build/plots unless PARC_PLOTS says.
# (configure, then copy: the copy is what makes it executable on CMake 3.18.)
configure_file(${PARC_EXAMPLE_DIR}/demo.sh ${PROJECT_BINARY_DIR}/examples-driver/demo @ONLY)
file(COPY ${PROJECT_BINARY_DIR}/examples-driver/demo DESTINATION ${PROJECT_BINARY_DIR}/examples
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                   WORLD_READ WORLD_EXECUTE)
set(PARC_EXAMPLES_BUILT ON)
