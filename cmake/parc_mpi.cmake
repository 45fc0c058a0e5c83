# PARC_MPI: built when CMake finds an MPI library (Debian: libopenmpi-dev
# openmpi-bin; scripts/deps core installs them). Included by CMakeLists.txt
# before the library is defined. -DPARC_WITH_MPI=OFF builds without it (the
# sanitizer builds do: see Makefile), and then PARC_MPI is PARC_EBACKEND
# with a message naming the packages to install.
option(PARC_WITH_MPI "Build the PARC_MPI backend when an MPI library is found" ON)
set(PARC_HAVE_MPI OFF)
if(PARC_WITH_MPI)
  find_package(MPI COMPONENTS C QUIET)
  if(MPI_C_FOUND)
    set(PARC_HAVE_MPI ON)
    list(APPEND PARC_LIBS MPI::MPI_C)
    list(APPEND PARC_DEFINES PARC_HAVE_MPI=1)
   string(APPEND PARC_PC_LIBS " -lmpi")
    message(STATUS "parc: PARC_MPI built (MPI ${MPI_C_VERSION})")
  else()
    message(STATUS "parc: no MPI found: PARC_MPI is not built (install libopenmpi-dev openmpi-bin)")
  endif()
endif()
