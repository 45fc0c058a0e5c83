# Task graphs. test_graph links the static library: its allocation-failure
# test uses the internal parc__alloc_fail_after hook, which the shared
# library (built with -fvisibility=hidden) does not export.
add_executable(test_graph ${PROJECT_SOURCE_DIR}/tests/test_graph.c)
target_link_libraries(test_graph PRIVATE parc_static ${PARC_TEST_LIBS})
target_include_directories(test_graph PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
target_compile_options(test_graph PRIVATE ${PARC_WARNINGS})
target_compile_definitions(test_graph PRIVATE _GNU_SOURCE)
include(${PROJECT_SOURCE_DIR}/cmake/parc_test_cases.cmake)
parc_test_cases(test_graph test_graph LABELS threads)

# The seed chapter's dask.delayed section (examples/graph_sweep.c), run as a
# smoke test. Built here, without GSL (examples/examples.cmake leaves it out);
# it shares examples/example.h (now, check) with the other examples.
if(NOT TARGET graph_sweep)
  add_executable(graph_sweep ${PROJECT_SOURCE_DIR}/examples/graph_sweep.c)
  target_link_libraries(graph_sweep PRIVATE parc m)
  target_include_directories(graph_sweep PRIVATE ${PROJECT_SOURCE_DIR}/examples)
  target_compile_options(graph_sweep PRIVATE ${PARC_WARNINGS})
  target_compile_definitions(graph_sweep PRIVATE _GNU_SOURCE)
  set_target_properties(graph_sweep PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/examples)
  add_test(NAME example_graph_sweep COMMAND graph_sweep)
  set_tests_properties(example_graph_sweep PROPERTIES LABELS "threads;example" TIMEOUT 120
    PASS_REGULAR_EXPRESSION "Computed 50 results")
endif()
