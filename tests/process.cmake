# PARC_PROCESSES: its own fault-injection suite, and the shared conformance
# suite run on processes. Label "threads": the proxies are threads (TSan).
parc_test(test_process threads)
parc_conformance(processes threads)
