# parc_version_check(HEADER VERSION): fails unless HEADER's PARC_VERSION_MAJOR,
# _MINOR, _PATCH and _STRING say VERSION (project(VERSION), the one source).
# Also a script: cmake -DHEADER=include/parc.h -DVERSION=0.1.0 -P this-file.
function(parc_version_check header version)
  file(STRINGS ${header} lines REGEX "^#define PARC_VERSION_(MAJOR|MINOR|PATCH|STRING) ")
  set(found "")
  foreach(part IN ITEMS MAJOR MINOR PATCH STRING)
    set(value "?")
    foreach(line IN LISTS lines)
      if(line MATCHES "^#define PARC_VERSION_${part} +\"?([0-9.]+)\"?")
        set(value ${CMAKE_MATCH_1})
      endif()
    endforeach()
    list(APPEND found "${value}")
  endforeach()
  string(REPLACE "." ";" expected "${version}")
  list(APPEND expected "${version}")
  if(NOT found STREQUAL expected)
    string(REPLACE ";" " " found "${found}")
    message(FATAL_ERROR "${header}: PARC_VERSION_MAJOR/MINOR/PATCH/STRING are ${found}, "
      "project(VERSION) is ${version}: change them together")
  endif()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND HEADER AND VERSION)
  parc_version_check(${HEADER} ${VERSION})
endif()
