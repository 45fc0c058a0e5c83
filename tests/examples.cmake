# The chapter's numbers, checked: each example run with --check prints its
# usual lines, skips its timing runs and plots, and exits non-zero unless
# the numbers are right (conversion 0.9932 at k = 0.5 printed exactly,
# nominal 73.60 °C, Monte Carlo mean in [73.3, 74.0] and sd in [1.6, 2.1]
# with bit-identical samples on 1 and N workers, the fin's mean folded by
# parc_map_reduce to the same bits on 1, 2, 3 workers and PROCESSES, the
# error-handling report word for word). The examples are built by examples/examples.cmake, which
# this includes first (it is guarded, so the examples/ glob skips it later).
include(${PROJECT_SOURCE_DIR}/examples/examples.cmake)
if(PARC_EXAMPLES_BUILT)
  foreach(name IN ITEMS reaction_sweep monte_carlo_fin reduce_fin_mean error_handling)
    add_test(NAME example_${name} COMMAND ${name} --check)
    set_tests_properties(example_${name} PROPERTIES LABELS "example" TIMEOUT 120)
  endforeach()
endif()

# The README's crash example: every kind of death named, the pool goes on.
if(TARGET crash_isolation)
  add_test(NAME example_crash_isolation COMMAND ${PROJECT_SOURCE_DIR}/tests/check_output.sh
    $<TARGET_FILE:crash_isolation>
    "task  2: 4" "task  3: killed by signal 11 (Segmentation fault)"
    "task  5: killed by signal 6 (Aborted)" "task  7: exited with status 2"
    "task  9: ran past the timeout of 0.5 s" "task 11: x=11 is out of range" "task 10: 100"
    "next map on the same pool: PARC_OK: success, 2*2 = 4")
  set_tests_properties(example_crash_isolation PROPERTIES LABELS "example" TIMEOUT 120
    ENVIRONMENT "ASAN_OPTIONS=handle_segv=0:handle_abort=0;UBSAN_OPTIONS=handle_segv=0:handle_abort=0")
endif()
