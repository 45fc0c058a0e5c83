# Traces and group statistics: the timeline file checked by a real JSON
# parser (tests/check_trace.py, python3), on every backend.
parc_test_binary(test_trace_events parc)
target_compile_definitions(test_trace_events PRIVATE PARC_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
parc_test_cases(test_trace_events test_trace_events LABELS threads
  ENVIRONMENT "ASAN_OPTIONS=handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0:detect_leaks=1"
  "TSAN_OPTIONS=handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0:halt_on_error=1"
  "UBSAN_OPTIONS=handle_segv=0:handle_abort=0:handle_sigfpe=0:print_stacktrace=1:halt_on_error=1")
