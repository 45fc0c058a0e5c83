# Progress output, the scaling table and `parc bench` (issue 4, items 3-4).
parc_test(test_progress threads)
# test_scaling also runs the parc tool: PARC_TOOL names the binary.
parc_test_binary(test_scaling parc)
add_dependencies(test_scaling parc_tool)
add_test(NAME test_scaling COMMAND test_scaling)
set_tests_properties(test_scaling PROPERTIES LABELS "threads" TIMEOUT 300
  ENVIRONMENT "PARC_TOOL=$<TARGET_FILE:parc_tool>")
