# `parc run` (issue 13): each case of tests/run_cmd/cases.sh is one test,
# mostly the same jobs through parc run and GNU parallel, compared. Without
# GNU parallel (scripts/deps test installs it) they are skipped, not passed.
# The tool is defined later (tools/parc/parc.cmake); the generator
# expression resolves at build time.
foreach(case IN ITEMS inputs exit_status joblog timeout retries halt output results jobs
                      hostile signal interrupt resume errors)
  add_test(NAME run_cmd_${case} COMMAND bash ${PROJECT_SOURCE_DIR}/tests/run_cmd/cases.sh ${case})
  set_tests_properties(run_cmd_${case} PROPERTIES LABELS "tool" TIMEOUT 60 SKIP_RETURN_CODE 77
    ENVIRONMENT "PARC=$<TARGET_FILE:parc_tool>")
endforeach()
