# The result cache. test_cache links the static library for its internal
# hooks (SipHash vectors, symbol lookup, the recency hook) and runs two
# builds of tests/cache_helper.c that differ in one function's body.
foreach(variant IN ITEMS a b)
  add_executable(cache_helper_${variant} ${PROJECT_SOURCE_DIR}/tests/cache_helper.c)
  target_link_libraries(cache_helper_${variant} PRIVATE parc)
  target_compile_options(cache_helper_${variant} PRIVATE ${PARC_WARNINGS})
  target_compile_definitions(cache_helper_${variant} PRIVATE _GNU_SOURCE)
endforeach()
target_compile_definitions(cache_helper_a PRIVATE VARIANT=1)
target_compile_definitions(cache_helper_b PRIVATE VARIANT=2)

add_executable(test_cache ${PROJECT_SOURCE_DIR}/tests/test_cache.c)
target_link_libraries(test_cache PRIVATE parc_static ${PARC_TEST_LIBS})
target_include_directories(test_cache PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
target_compile_options(test_cache PRIVATE ${PARC_WARNINGS})
target_compile_definitions(test_cache PRIVATE _GNU_SOURCE
  CACHE_HELPER_A="$<TARGET_FILE:cache_helper_a>" CACHE_HELPER_B="$<TARGET_FILE:cache_helper_b>")
add_dependencies(test_cache cache_helper_a cache_helper_b)
include(${PROJECT_SOURCE_DIR}/cmake/parc_test_cases.cmake)
parc_test_cases(test_cache test_cache LABELS threads)

# The cache file's storage: full disk, read-only, FIFOs, links, shared
# directories (tests/test_cache_files.c; the mounting tests skip without root).
add_executable(test_cache_files ${PROJECT_SOURCE_DIR}/tests/test_cache_files.c)
target_link_libraries(test_cache_files PRIVATE parc ${PARC_TEST_LIBS})
target_include_directories(test_cache_files PRIVATE ${PROJECT_SOURCE_DIR}/tests)
target_compile_options(test_cache_files PRIVATE ${PARC_WARNINGS})
target_compile_definitions(test_cache_files PRIVATE _GNU_SOURCE)
parc_test_cases(test_cache_files test_cache_files LABELS threads)

# `parc cache stats|clear` on a cache the helper filled.
if(EXISTS ${PROJECT_SOURCE_DIR}/tools/parc/parc.cmake)   # parc_tool is defined later
  set(PARC_CACHE_TOOL_DIR ${PROJECT_BINARY_DIR}/cache_tool_test)
  add_test(NAME cache_tool COMMAND sh -c
    "rm -rf '${PARC_CACHE_TOOL_DIR}' && '$<TARGET_FILE:cache_helper_a>' '${PARC_CACHE_TOOL_DIR}' work 0 300 \
     && '$<TARGET_FILE:parc_tool>' cache stats '${PARC_CACHE_TOOL_DIR}' \
     && '$<TARGET_FILE:parc_tool>' cache clear '${PARC_CACHE_TOOL_DIR}' work \
     && '$<TARGET_FILE:parc_tool>' cache stats '${PARC_CACHE_TOOL_DIR}' \
     && ! '$<TARGET_FILE:parc_tool>' cache stats '${PARC_CACHE_TOOL_DIR}/none' \
     && ! '$<TARGET_FILE:parc_tool>' cache frobnicate \
     && rm -rf '${PARC_CACHE_TOOL_DIR}'")
  set_tests_properties(cache_tool PROPERTIES LABELS "tool" TIMEOUT 60
    PASS_REGULAR_EXPRESSION "entries +300\n.*removed 300 of 300 entries of work\n.*entries +0\n")
endif()

# The fuzz target for damaged cache files (tests/fuzz_cache_open.c). With
# clang and no sanitizer build: a libFuzzer binary (the cache's own files
# compiled by clang with coverage and ASan, the rest from libparc.a), run
# for a fixed number of inputs. Otherwise (no clang, or the ASan/TSan build
# dirs, whose sanitizer is GCC's): the same file's replay main, which runs
# a deterministic stream of random damage programs.
find_program(PARC_CLANG NAMES clang clang-14)
if(PARC_CLANG AND PARC_SANITIZE STREQUAL "")
  set(PARC_FUZZ_BIN ${PROJECT_BINARY_DIR}/fuzz_cache_open)
  file(GLOB PARC_CACHE_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/cache*.c)
  separate_arguments(PARC_FUZZ_LIBS UNIX_COMMAND "${PARC_PC_LIBS}")
  add_custom_command(OUTPUT ${PARC_FUZZ_BIN}
    COMMAND ${PARC_CLANG} -g -O1 -std=c11 -fsanitize=fuzzer,address -DPARC_LIBFUZZER -D_GNU_SOURCE
      -I${PROJECT_SOURCE_DIR}/include -I${PROJECT_SOURCE_DIR}/src
      ${PROJECT_SOURCE_DIR}/tests/fuzz_cache_open.c ${PARC_CACHE_SOURCES}
      $<TARGET_FILE:parc_static> ${PARC_FUZZ_LIBS} -o ${PARC_FUZZ_BIN}
    DEPENDS ${PROJECT_SOURCE_DIR}/tests/fuzz_cache_open.c ${PARC_CACHE_SOURCES} parc_static
    COMMENT "Building the libFuzzer target fuzz_cache_open with clang")
  add_custom_target(fuzz_cache_open_target ALL DEPENDS ${PARC_FUZZ_BIN})
  add_test(NAME fuzz_cache_open COMMAND ${PARC_FUZZ_BIN} -runs=150 -max_len=64 -seed=1
    -max_total_time=10)
else()
  add_executable(fuzz_cache_open ${PROJECT_SOURCE_DIR}/tests/fuzz_cache_open.c)
  target_link_libraries(fuzz_cache_open PRIVATE parc)
  target_compile_options(fuzz_cache_open PRIVATE ${PARC_WARNINGS})
  target_compile_definitions(fuzz_cache_open PRIVATE _GNU_SOURCE)
  add_test(NAME fuzz_cache_open COMMAND fuzz_cache_open 150)
endif()
set_tests_properties(fuzz_cache_open PROPERTIES LABELS "fuzz" TIMEOUT 120)

# The chapter's cache examples (examples/cache_simulation.c, cache_resume.c),
# built by examples/examples.cmake when the demo's libraries are there: the
# cached call returns the same value faster; the killed sweep, resumed,
# recomputes only what was not committed and equals an uncached run.
include(${PROJECT_SOURCE_DIR}/examples/examples.cmake)
if(TARGET cache_simulation AND TARGET cache_resume)
  add_test(NAME example_cache_simulation COMMAND ${PROJECT_SOURCE_DIR}/tests/check_output.sh
    $<TARGET_FILE:cache_simulation> "First call: " "Cached call: " "same value: yes"
    "second call faster: yes")
  add_test(NAME example_cache_resume COMMAND ${PROJECT_SOURCE_DIR}/tests/check_output.sh
    $<TARGET_FILE:cache_resume> "first run:  killed with SIGKILL"
    "resume recomputed only the missing tasks: yes" "outputs identical to an uncached run: yes")
  set_tests_properties(example_cache_simulation example_cache_resume PROPERTIES
    LABELS "example" TIMEOUT 120)
endif()
