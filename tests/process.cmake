# PARC_PROCESSES: its own fault-injection suite, and the shared conformance
# suite run on processes. Label "threads": the proxies are threads (TSan).
parc_test(test_process threads)
parc_conformance(processes threads)

# Fault injection needs plain deaths: a sanitizer that catches SIGSEGV or
# SIGABRT reports slowly and exits 1, which is a different (and late) death.
set(PARC_PLAIN_DEATHS "ASAN_OPTIONS=handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0:detect_leaks=1"
  "TSAN_OPTIONS=handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0:halt_on_error=1"
  "UBSAN_OPTIONS=handle_segv=0:handle_abort=0:handle_sigfpe=0:print_stacktrace=1:halt_on_error=1")
set_tests_properties(test_process PROPERTIES ENVIRONMENT "${PARC_PLAIN_DEATHS}")
