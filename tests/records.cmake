# Records of any size and streams (test_records.c), on every backend and
# both start methods. Label "threads": TSan runs them.
parc_test_binary(test_records parc)
parc_test_cases(test_records records_threads LABELS threads ENVIRONMENT PARC_TEST_BACKEND=threads)
parc_test_cases(test_records records_serial LABELS threads ENVIRONMENT PARC_TEST_BACKEND=serial)
parc_test_cases(test_records records_processes LABELS threads ENVIRONMENT PARC_TEST_BACKEND=processes)
parc_test_cases(test_records records_processes_exec LABELS threads
  ENVIRONMENT PARC_TEST_BACKEND=processes PARC_START=exec)
