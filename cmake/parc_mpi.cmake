# PARC_MPI: built when CMake finds an MPI library (Debian: libopenmpi-dev
# openmpi-bin; scripts/deps core installs them). Included by CMakeLists.txt
# before the library is defined; parc_library links MPI into the shared
# library only, privately: Debian ships no static Open MPI, so libparc.a (and
# a -static program) is built without PARC_MPI and says PARC_EBACKEND for it.
# -DPARC_WITH_MPI=OFF builds without it everywhere (the sanitizer builds do:
# see Makefile); PARC_MPI is then PARC_EBACKEND with a message naming the
# packages to install.
option(PARC_WITH_MPI "Build the PARC_MPI backend when an MPI library is found" ON)
set(PARC_HAVE_MPI OFF)
if(PARC_WITH_MPI)
  find_package(MPI COMPONENTS C QUIET)
  if(MPI_C_FOUND)
    set(PARC_HAVE_MPI ON)
    message(STATUS "parc: PARC_MPI built into libparc.so (MPI ${MPI_C_VERSION})")
  else()
    message(STATUS "parc: no MPI found: PARC_MPI is not built (install libopenmpi-dev openmpi-bin)")
  endif()
endif()
