# The test suites. parc_test(NAME LABELS...) builds tests/NAME.c against the
# library and registers one ctest NAME/CASE per TEST in it
# (cmake/parc_test_cases.cmake); label "threads" also runs under TSan
# (make test). parc_test_binary(NAME LIBRARY) only builds it; LIBRARY is
# parc (shared) or parc_static (for tests that reach internal hooks).
include(${PROJECT_SOURCE_DIR}/cmake/parc_test_cases.cmake)

# Fault injection (process.cmake, faults.cmake) needs plain deaths: a
# sanitizer that catches SIGSEGV or SIGABRT reports slowly and exits 1, which
# is a different (and late) death.
set(PARC_PLAIN_DEATHS "ASAN_OPTIONS=handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0:detect_leaks=1"
  "TSAN_OPTIONS=handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0:halt_on_error=1"
  "UBSAN_OPTIONS=handle_segv=0:handle_abort=0:handle_sigfpe=0:print_stacktrace=1:halt_on_error=1")

function(parc_test_binary name library)
  add_executable(${name} ${PROJECT_SOURCE_DIR}/tests/${name}.c)
  target_link_libraries(${name} PRIVATE ${library} ${PARC_TEST_LIBS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_compile_options(${name} PRIVATE ${PARC_WARNINGS})
  target_compile_definitions(${name} PRIVATE _GNU_SOURCE)
endfunction()

function(parc_test name)
  parc_test_binary(${name} parc)
  parc_test_cases(${name} ${name} LABELS ${ARGN})
endfunction()

# The conformance suite once per backend; other backends register theirs.
function(parc_conformance backend)
  parc_test_cases(test_conformance conformance_${backend} LABELS ${ARGN}
    ENVIRONMENT PARC_TEST_BACKEND=${backend})
endfunction()

parc_test(test_rng threads)
parc_test(test_errors threads)
parc_test_binary(test_conformance parc)
parc_conformance(threads threads)
parc_conformance(serial threads)
parc_test_binary(test_alloc parc_static)
parc_test_cases(test_alloc test_alloc)
# The harness's own checks: under ASan a test that leaks fails (elsewhere
# those cases skip).
parc_test(test_harness_selftest harness)

# The API contract (a copy of shared/contract/contract.c): it must compile
# with -Werror and link, so every declared contract name is implemented.
add_executable(contract_check ${PROJECT_SOURCE_DIR}/tests/contract.c)
target_link_libraries(contract_check PRIVATE parc)
target_compile_options(contract_check PRIVATE -Wall -Wextra -Werror)
add_test(NAME contract_check COMMAND contract_check)

# Installing works: pkg-config and find_package(parc) both build a consumer.
add_test(NAME install_consumer COMMAND ${PROJECT_SOURCE_DIR}/tests/install/run.sh ${PROJECT_BINARY_DIR})
set_tests_properties(install_consumer PROPERTIES LABELS "no-asan" TIMEOUT 300)

# The cache on the process backend (cache.c's own suite covers the rest).
parc_test(test_cache_process threads)

# The layering of src/ (parc_internal.h's list): no call goes up a layer.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME check_layers COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/check_layers.py
           ${PROJECT_SOURCE_DIR}/src)
  set_tests_properties(check_layers PROPERTIES LABELS "no-asan")
endif()

# parc_map_reduce's order on every backend, its failures and its memory.
parc_test(test_reduce threads)
