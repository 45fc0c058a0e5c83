# PARC_PROCESSES: its own fault-injection suite, and the shared conformance
# suite run on processes. Label "threads": the proxies are threads (TSan).
parc_test(test_process threads)
parc_conformance(processes threads)
# Exec start: its own suite (built with OpenMP: the case exec start is for)
# and the conformance suite once more, on exec-started workers.
parc_test(test_process_exec threads)
target_compile_options(test_process_exec PRIVATE -fopenmp)
target_link_options(test_process_exec PRIVATE -fopenmp)
add_test(NAME conformance_processes_exec COMMAND test_conformance)
set_tests_properties(conformance_processes_exec PROPERTIES LABELS "threads" TIMEOUT 300
  ENVIRONMENT "PARC_TEST_BACKEND=processes;PARC_START=exec")

# Fault injection needs plain deaths: a sanitizer that catches SIGSEGV or
# SIGABRT reports slowly and exits 1, which is a different (and late) death.
set(PARC_PLAIN_DEATHS "ASAN_OPTIONS=handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0:detect_leaks=1"
  "TSAN_OPTIONS=handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0:halt_on_error=1"
  "UBSAN_OPTIONS=handle_segv=0:handle_abort=0:handle_sigfpe=0:print_stacktrace=1:halt_on_error=1")
set_tests_properties(test_process test_process_exec PROPERTIES ENVIRONMENT "${PARC_PLAIN_DEATHS}")
