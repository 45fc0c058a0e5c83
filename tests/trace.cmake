# `parc trace`: its reader on its own (test_trace_read, built from the
# tool's sources), and the command on the sample traces in tests/trace
# (tests/trace/check.sh, one ctest per case).
if(NOT EXISTS ${PROJECT_SOURCE_DIR}/tools/parc/trace_cmd.c)
  return()
endif()
include(${PROJECT_SOURCE_DIR}/cmake/parc_test_cases.cmake)
add_executable(test_trace_read ${PROJECT_SOURCE_DIR}/tests/test_trace_read.c
  ${PROJECT_SOURCE_DIR}/tools/parc/trace_read.c ${PROJECT_SOURCE_DIR}/tools/parc/trace_rows.c
  ${PROJECT_SOURCE_DIR}/tools/parc/trace_summary.c)
target_include_directories(test_trace_read PRIVATE ${PROJECT_SOURCE_DIR}/tools/parc ${PROJECT_SOURCE_DIR}/tests)
target_compile_options(test_trace_read PRIVATE ${PARC_WARNINGS})
target_compile_definitions(test_trace_read PRIVATE _GNU_SOURCE TRACE_SAMPLES="${PROJECT_SOURCE_DIR}/tests/trace")
target_link_libraries(test_trace_read PRIVATE m)
parc_test_cases(test_trace_read test_trace_read LABELS tool TIMEOUT 60)

foreach(case IN ITEMS summary_complete summary_faults summary_cut summary_two_maps summary_reordered
                     errors plot real_trace can_fail)
  add_test(NAME trace_tool/${case} COMMAND sh ${PROJECT_SOURCE_DIR}/tests/trace/check.sh ${case}
    $<TARGET_FILE:parc_tool> ${PROJECT_SOURCE_DIR}/tests/trace)
  set_tests_properties(trace_tool/${case} PROPERTIES LABELS tool TIMEOUT 30 SKIP_RETURN_CODE 77)
endforeach()
