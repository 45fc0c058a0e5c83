# The standing fault suite: one program per fault (tests/faults/NAME.c, on
# tests/faults/fault.h), each registered as faults/NAME/fork_start and
# faults/NAME/exec_start (one ctest per harness TEST, each in its own process
# with a time limit). Labels: threads (the pool's proxies are threads: TSan
# runs them) and faults (ctest -L faults runs the suite alone). Plain deaths
# (PARC_PLAIN_DEATHS, core.cmake): sanitizers must not catch the signals.
file(GLOB PARC_FAULT_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/faults/*.c)
foreach(source IN LISTS PARC_FAULT_SOURCES)
  get_filename_component(fault ${source} NAME_WE)
  add_executable(fault_${fault} ${source})
  target_link_libraries(fault_${fault} PRIVATE parc ${PARC_TEST_LIBS})
  target_include_directories(fault_${fault} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_compile_options(fault_${fault} PRIVATE ${PARC_WARNINGS})
  target_compile_definitions(fault_${fault} PRIVATE _GNU_SOURCE)
  parc_test_cases(fault_${fault} faults/${fault} LABELS threads faults TIMEOUT 60
    ENVIRONMENT ${PARC_PLAIN_DEATHS})
endforeach()

# The check can fail: with a wrong expected message the segv program must
# fail, naming both messages.
add_test(NAME faults/segv/wrong_message_fails COMMAND fault_segv fork_start)
set_tests_properties(faults/segv/wrong_message_fails PROPERTIES LABELS "threads;faults" TIMEOUT 60
  ENVIRONMENT "${PARC_PLAIN_DEATHS};PARC_FAULT_EXPECT=killed by signal 7 (Bus error)"
  PASS_REGULAR_EXPRESSION
  "expected \"killed by signal 7 \\(Bus error\\)\", got \"killed by signal 11 \\(Segmentation fault\\)\"")
