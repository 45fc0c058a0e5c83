# PARC_PROCESSES: its own fault-injection suite, and the shared conformance
# suite run on processes. Label "threads": the proxies are threads (TSan).
parc_test_binary(test_process parc)
parc_conformance(processes threads)
# Exec start: its own suite (built with OpenMP: the case exec start is for)
# and the conformance suite once more, on exec-started workers.
parc_test_binary(test_process_exec parc)
target_compile_options(test_process_exec PRIVATE -fopenmp)
target_link_options(test_process_exec PRIVATE -fopenmp)
# A task function in a dlopen()ed library: exec-started workers lack it.
add_library(parc_test_dl_task MODULE ${PROJECT_SOURCE_DIR}/tests/dl_task.c)
target_link_libraries(parc_test_dl_task PRIVATE parc)
target_compile_options(parc_test_dl_task PRIVATE ${PARC_WARNINGS})
target_compile_definitions(test_process_exec PRIVATE DL_TASK_SO="$<TARGET_FILE:parc_test_dl_task>")
target_link_libraries(test_process_exec PRIVATE ${CMAKE_DL_LIBS})
add_dependencies(test_process_exec parc_test_dl_task)
parc_test_cases(test_conformance conformance_processes_exec LABELS threads
  ENVIRONMENT PARC_TEST_BACKEND=processes PARC_START=exec)

foreach(suite IN ITEMS test_process test_process_exec)
  parc_test_cases(${suite} ${suite} LABELS threads ENVIRONMENT ${PARC_PLAIN_DEATHS})
endforeach()
