# Progress output, the scaling table and `parc bench` (issue 4, items 3-4).
parc_test(test_progress threads)
# test_scaling also runs the parc tool: PARC_TOOL names the binary.
parc_test_binary(test_scaling parc)
add_dependencies(test_scaling parc_tool)
parc_test_cases(test_scaling test_scaling LABELS threads
  ENVIRONMENT PARC_TOOL=$<TARGET_FILE:parc_tool>)
