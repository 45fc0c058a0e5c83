# Packaging and conventions, included by CMakeLists.txt after every part:
# the version check, the tool's RPATH, parc.pc (written at install time),
# ldconfig, the man pages and their test, and CPack's .deb (`make deb`).

# --- One version: project(VERSION). parc.h must say the same. -------------
include(${PROJECT_SOURCE_DIR}/cmake/parc_version_check.cmake)
parc_version_check(${PROJECT_SOURCE_DIR}/include/parc.h
  ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}.${PROJECT_VERSION_PATCH})

# --- The tool finds libparc relative to itself, from any prefix. ----------
if(TARGET parc_tool)
  set_target_properties(parc_tool PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
endif()

# --- parc.pc: relocatable; with an RPATH flag outside /usr and /usr/local ---
# The prefix is known only when installing (`cmake --install --prefix P`,
# `make install PREFIX=P`), so the file is configured now with a token that
# the install step replaces: a consumer linked against /opt/parc runs
# without LD_LIBRARY_PATH; one against the system prefixes gets no RPATH.
file(RELATIVE_PATH PARC_PC_PREFIX_FROM_PCDIR "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" PARC_PC_PREFIX_FROM_PCDIR "${PARC_PC_PREFIX_FROM_PCDIR}")
# Libs.private in an order a static link accepts: the libraries parts added
# (-lsqlite3, MPI's) first, then the C library's own (-lm, -lpthread, -ldl,
# -lrt), which they need. sqlite3.pc is not used: its Libs.private names
# -lz, which Debian's libsqlite3.a does not need and libsqlite3-dev lacks.
separate_arguments(pc_libs UNIX_COMMAND "${PARC_PC_LIBS}")
set(pc_first "")
set(pc_last "")
foreach(lib IN LISTS pc_libs)
  if(lib MATCHES "^-l(m|pthread|dl|rt)$")
    list(APPEND pc_last ${lib})
  else()
    list(APPEND pc_first ${lib})
  endif()
endforeach()
list(APPEND pc_first ${pc_last})
list(REMOVE_DUPLICATES pc_first)
string(REPLACE ";" " " PARC_PC_LIBS_PRIVATE "${pc_first}")
set(PARC_PC_RPATH "@PARC_PC_RPATH@")
configure_file(${PROJECT_SOURCE_DIR}/cmake/parc.pc.in ${PROJECT_BINARY_DIR}/parc.pc.install @ONLY)
set(PARC_PC_RPATH "")
configure_file(${PROJECT_SOURCE_DIR}/cmake/parc.pc.in ${PROJECT_BINARY_DIR}/parc.pc @ONLY)
install(CODE "
  set(pc_dir \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig\")
  file(READ \"${PROJECT_BINARY_DIR}/parc.pc.install\" pc)
  if(CMAKE_INSTALL_PREFIX MATCHES \"^/usr(/local)?/?$\")
    string(REPLACE \"@PARC_PC_RPATH@\" \"\" pc \"\${pc}\")
  else()
    string(REPLACE \"@PARC_PC_RPATH@\" \" -Wl,-rpath,\\\${libdir}\" pc \"\${pc}\")
  endif()
  file(MAKE_DIRECTORY \"\$ENV{DESTDIR}\${pc_dir}\")
  file(WRITE \"\$ENV{DESTDIR}\${pc_dir}/parc.pc\" \"\${pc}\")
  message(STATUS \"Installing: \$ENV{DESTDIR}\${pc_dir}/parc.pc\")
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\$ENV{DESTDIR}\${pc_dir}/parc.pc\")
")

# --- Man pages: man/*.1 and man/parc.3 by hand, the rest from parc.h. ------
set(PARC_MAN_DIR ${PROJECT_BINARY_DIR}/man)
file(GLOB PARC_MAN1 CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/man/*.1)
file(GLOB PARC_MAN3 CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/man/*.3)
foreach(page IN LISTS PARC_MAN1 PARC_MAN3)
  get_filename_component(name ${page} NAME)
  string(REGEX REPLACE ".*\\." "" section ${name})
  configure_file(${page} ${PARC_MAN_DIR}/man${section}/${name} @ONLY)
endforeach()
set(PARC_MAN_STAMP ${PARC_MAN_DIR}/man3/.generated)
add_custom_command(OUTPUT ${PARC_MAN_STAMP}
  COMMAND sh ${PROJECT_SOURCE_DIR}/man/header2man ${PROJECT_SOURCE_DIR}/include/parc.h
    ${PARC_MAN_DIR}/man3 ${PROJECT_VERSION}
  COMMAND ${CMAKE_COMMAND} -E touch ${PARC_MAN_STAMP}
  DEPENDS ${PROJECT_SOURCE_DIR}/include/parc.h ${PROJECT_SOURCE_DIR}/man/header2man
  COMMENT "Generating man pages from include/parc.h"
  VERBATIM)
add_custom_target(parc_man ALL DEPENDS ${PARC_MAN_STAMP})
install(DIRECTORY ${PARC_MAN_DIR}/man1 ${PARC_MAN_DIR}/man3 DESTINATION ${CMAKE_INSTALL_MANDIR}
  FILES_MATCHING PATTERN "*.[13]")

# --- ldconfig after a root install into the system prefixes. --------------
install(CODE "
  if(\"\$ENV{DESTDIR}\" STREQUAL \"\" AND CMAKE_INSTALL_PREFIX MATCHES \"^/usr(/local)?/?$\")
    execute_process(COMMAND id -u OUTPUT_VARIABLE uid OUTPUT_STRIP_TRAILING_WHITESPACE)
    find_program(PARC_LDCONFIG ldconfig PATHS /sbin /usr/sbin)
    if(uid STREQUAL \"0\" AND PARC_LDCONFIG)
      message(STATUS \"Running ldconfig\")
      execute_process(COMMAND \${PARC_LDCONFIG})
    endif()
  endif()
")

# --- Tests of all this (ctest; fast, no network, no root). ----------------
if(PARC_BUILD_TESTS)
  find_program(PARC_MAN_PROGRAM man)
  if(PARC_MAN_PROGRAM)
    add_test(NAME man_pages COMMAND sh ${PROJECT_SOURCE_DIR}/tests/install/man_check.sh
      ${PARC_MAN_DIR} ${PROJECT_SOURCE_DIR}/include/parc.h ${PROJECT_SOURCE_DIR}/man)
    set_tests_properties(man_pages PROPERTIES LABELS "docs;no-asan" TIMEOUT 120)
  else()
    message(STATUS "man_pages test skipped: install man-db (scripts/deps test)")
  endif()
  # The check itself: the header passes, a header one patch behind fails.
  add_test(NAME version_check COMMAND sh -c
    "${CMAKE_COMMAND} -DHEADER=${PROJECT_SOURCE_DIR}/include/parc.h -DVERSION=${PROJECT_VERSION} \
       -P ${PROJECT_SOURCE_DIR}/cmake/parc_version_check.cmake || exit 1
     t=$(mktemp) && sed 's/^#define PARC_VERSION_PATCH .*/#define PARC_VERSION_PATCH 999/' \
       ${PROJECT_SOURCE_DIR}/include/parc.h >$t
     ${CMAKE_COMMAND} -DHEADER=$t -DVERSION=${PROJECT_VERSION} \
       -P ${PROJECT_SOURCE_DIR}/cmake/parc_version_check.cmake >$t.out 2>&1; rc=$?
     grep -q 'are [0-9]* [0-9]* 999' $t.out; found=$?; cat $t.out; rm -f $t $t.out
     [ $rc -ne 0 ] && [ $found -eq 0 ]")
  set_tests_properties(version_check PROPERTIES LABELS "tool" TIMEOUT 60)
  if(TARGET parc_tool)
    add_test(NAME tool_version COMMAND sh ${PROJECT_SOURCE_DIR}/tests/install/tool_check.sh
      $<TARGET_FILE:parc_tool> ${PROJECT_VERSION})
    set_tests_properties(tool_version PROPERTIES LABELS "tool" TIMEOUT 60)
  endif()
  add_test(NAME install_subdirectory COMMAND sh ${PROJECT_SOURCE_DIR}/tests/install/subdir.sh
    ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  set_tests_properties(install_subdirectory PROPERTIES LABELS "no-asan" TIMEOUT 300)
  find_program(PARC_DPKG_DEB dpkg-deb)
  find_program(PARC_FILE_PROGRAM file)   # CPack's shlibdeps needs it
  if(NOT PARC_DPKG_DEB OR NOT PARC_FILE_PROGRAM)
    message(STATUS "install_deb test skipped: install dpkg-dev and file (scripts/deps test)")
  else()
    add_test(NAME install_deb COMMAND sh ${PROJECT_SOURCE_DIR}/tests/install/deb.sh
      ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR} ${PROJECT_VERSION})
    set_tests_properties(install_deb PROPERTIES LABELS "no-asan" TIMEOUT 300)
  endif()
endif()

# --- CPack: `make deb` (cpack -G DEB in the build tree). -------------------
if(PARC_TOP_LEVEL)
  set(CPACK_GENERATOR DEB)
  set(CPACK_PACKAGE_NAME parc)
  set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
  set(CPACK_PACKAGE_VENDOR "parc")
  set(CPACK_PACKAGE_CONTACT "parc maintainers <parc@localhost>")
  set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "embarrassingly parallel work in C: library, header, pkg-config, CMake package, tool")
  set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
  set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
  set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)   # and an ldconfig trigger
  # find_package(parc) needs SQLite3's CMake module and headers; pkg-config
  # --static needs sqlite3.pc: both in libsqlite3-dev; a static link also
  # needs -lxxhash (libxxhash-dev).
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libsqlite3-dev, libxxhash-dev")
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "pkg-config")
  set(CPACK_STRIP_FILES OFF)
  include(CPack)
endif()
