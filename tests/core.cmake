# The test suites. parc_test(NAME LABELS...) builds tests/NAME.c against the
# library; label "threads" also runs under TSan (make test).
function(parc_test name)
  add_executable(${name} ${PROJECT_SOURCE_DIR}/tests/${name}.c)
  target_link_libraries(${name} PRIVATE parc ${PARC_TEST_LIBS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_compile_options(${name} PRIVATE ${PARC_WARNINGS})
  target_compile_definitions(${name} PRIVATE _GNU_SOURCE)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${ARGN}" TIMEOUT 300)
endfunction()

parc_test(test_core threads)
parc_test(test_rng threads)
parc_test(test_errors threads)
