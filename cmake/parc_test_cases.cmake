# One ctest per TEST case, so that a failure names the case, not the suite.
#
# parc_test_cases(TARGET PREFIX [LABELS l...] [ENVIRONMENT VAR=value...]
#                 [TIMEOUT seconds])
# registers PREFIX/CASE for every TEST in TARGET (a suite built on
# tests/harness.h), each run as `TARGET CASE`, with these labels,
# environment and timeout (300 s by default); a case that calls SKIP()
# exits 77 and is reported as skipped. One TARGET may be registered under
# several prefixes (the conformance suite, once per backend).
#
# How: after each link, TARGET --list writes its case names to
# TARGET.cases (cmake/parc_list_cases.cmake); a ctest include file, written
# at configure time, reads that list when ctest runs (the way
# gtest_discover_tests works). A new TEST needs no CMake edit: the next
# build lists it.
include_guard(GLOBAL)
set(PARC_LIST_CASES_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/parc_list_cases.cmake)

function(parc_test_cases target prefix)
  cmake_parse_arguments(arg "" "TIMEOUT" "LABELS;ENVIRONMENT" ${ARGN})
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 300)
  endif()
  set(cases ${CMAKE_CURRENT_BINARY_DIR}/${target}.cases)
  get_property(listed TARGET ${target} PROPERTY PARC_CASES_LISTED)
  if(NOT listed)
    add_custom_command(TARGET ${target} POST_BUILD
      COMMAND ${CMAKE_COMMAND} -DBINARY=$<TARGET_FILE:${target}> -DOUTPUT=${cases}
        -P ${PARC_LIST_CASES_SCRIPT}
      COMMENT "Listing the test cases of ${target}"
      VERBATIM)
    set_property(TARGET ${target} PROPERTY PARC_CASES_LISTED TRUE)
  endif()
  set(props "LABELS [==[${arg_LABELS}]==] TIMEOUT ${arg_TIMEOUT} SKIP_RETURN_CODE 77")
  if(arg_ENVIRONMENT)
    string(APPEND props " ENVIRONMENT [==[${arg_ENVIRONMENT}]==]")
  endif()
  set(include_file ${CMAKE_CURRENT_BINARY_DIR}/${prefix}_cases.cmake)
  file(GENERATE OUTPUT ${include_file} CONTENT
"# ctest cases of ${prefix}: written by parc_test_cases (cmake/parc_test_cases.cmake).
if(EXISTS [==[${cases}]==])
  file(STRINGS [==[${cases}]==] parc_cases)
  foreach(parc_case IN LISTS parc_cases)
    add_test(\"${prefix}/\${parc_case}\" \"$<TARGET_FILE:${target}>\" \"\${parc_case}\")
    set_tests_properties(\"${prefix}/\${parc_case}\" PROPERTIES ${props})
  endforeach()
else()
  add_test(${prefix}_NOT_BUILT ${prefix}_NOT_BUILT)
endif()
")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${include_file})
endfunction()
