# The chapter's numbers, checked: each example run with --check prints its
# usual lines, skips its timing runs and plots, and exits non-zero unless
# the numbers are right (conversion 0.9932 at k = 0.5 printed exactly,
# nominal 73.60 °C, Monte Carlo mean in [73.3, 74.0] and sd in [1.6, 2.1]
# with bit-identical samples on 1 and N workers, the error-handling report
# word for word). The examples are built by examples/examples.cmake, which
# this includes first (it is guarded, so the examples/ glob skips it later).
include(${PROJECT_SOURCE_DIR}/examples/examples.cmake)
if(PARC_EXAMPLES_BUILT)
  foreach(name IN ITEMS reaction_sweep monte_carlo_fin error_handling)
    add_test(NAME example_${name} COMMAND ${name} --check)
    set_tests_properties(example_${name} PROPERTIES LABELS "example" TIMEOUT 120)
  endforeach()
endif()
