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

# Issue 11's data files: the summary, every malformed file named with its
# line, THREADS and PROCESSES byte-identical, the temporary directory gone.
if(TARGET data_files)
  add_test(NAME example_data_files COMMAND ${PROJECT_SOURCE_DIR}/tests/check_output.sh
    $<TARGET_FILE:data_files>
    "Summary: 300 files, 294 fitted, 6 failed; 298325 points in 6112 segments"
    "mean k 1.0607 1/s, mean relative error of k 2.074%"
    "data_017.csv: line 42: not a number: 'x1.3'" "data_058.csv: line 7: missing column: '0.2304'"
    "data_103.csv: empty file" "data_166.csv: 2 points, need at least 3"
    "data_211.csv: line 13: not a number: '1.2.3'" "data_254.csv: 0 points, need at least 3"
    "THREADS and PROCESSES: identical results (300 statuses and messages, 58304 bytes of outputs)"
    "Removed the temporary directory.")
  set_tests_properties(example_data_files PROPERTIES LABELS "example" TIMEOUT 120)
endif()

# The stream: 20007 lines piped in, four of them bad; the totals (checked
# against coreutils' factor) are the same on both backends and in any
# completion order.
if(TARGET stream_stdin)
  foreach(backend IN ITEMS threads processes)
    add_test(NAME example_stream_stdin_${backend} COMMAND sh -c
      "{ seq 2 20001; printf 'banana\\n\\n-7\\n1099511627776\\n1099511627775\\n0\\n1\\n'; } | \"$@\""
      feed ${PROJECT_SOURCE_DIR}/tests/check_output.sh $<TARGET_FILE:stream_stdin>
      "Summary: 20007 lines, 20003 factored, 4 failed"
      "primes: 2262; prime factors with multiplicity: 65544; sum of factors: 37700443"
      "largest prime factor: 61681 (line 20005)"
      "failed: line 20001: not a number: 'banana'" "failed: line 20002: not a number: ''"
      "failed: line 20003: not a number: '-7'"
      "failed: line 20004: too large (the limit is 2^40): '1099511627776'")
    set_tests_properties(example_stream_stdin_${backend} PROPERTIES LABELS "example" TIMEOUT 120
      ENVIRONMENT "PARC_BACKEND=${backend}")
  endforeach()
endif()
