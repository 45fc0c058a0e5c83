# The cache's storage: SQLite 3 (Debian libsqlite3-dev; scripts/deps core).
# Included by CMakeLists.txt before the library is defined.
find_package(SQLite3 QUIET)
if(SQLite3_FOUND)
  set(PARC_SQLITE3_TARGET SQLite::SQLite3)
else()
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(PARC_SQLITE3 QUIET IMPORTED_TARGET sqlite3)
  endif()
  if(NOT PARC_SQLITE3_FOUND)
    message(FATAL_ERROR "SQLite 3 not found: install the Debian package libsqlite3-dev (scripts/deps does)")
  endif()
  set(PARC_SQLITE3_TARGET PkgConfig::PARC_SQLITE3)
endif()
list(APPEND PARC_LIBS ${PARC_SQLITE3_TARGET})
string(APPEND PARC_PC_LIBS " -lsqlite3")
# pkg-config --static: sqlite3.pc brings its own private libraries after it.
list(APPEND PARC_PC_REQUIRES sqlite3)
