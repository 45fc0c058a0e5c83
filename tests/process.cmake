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

# The warning that the program's globals changed after a PROCESSES pool was
# created (src/globals.c): tests/globals_helper.c changes them, or not, and
# test_globals reads its stderr. The _1m and _100m builds carry a .bss array
# of that size, for timing what the check costs per map:
#   build/tests/globals_helper_100m fork measure 2000
#   PARC_GLOBALS_WARNING=0 build/tests/globals_helper_100m fork measure 2000
foreach(variant IN ITEMS plain 1m 100m static)
  set(helper globals_helper_${variant})
  if(variant STREQUAL "plain")
    set(helper globals_helper)
  endif()
  add_executable(${helper} ${PROJECT_SOURCE_DIR}/tests/globals_helper.c)
  if(variant STREQUAL "static")
    # The library's globals then sit among the program's: the check is off.
    target_link_libraries(${helper} PRIVATE parc_static)
  else()
    target_link_libraries(${helper} PRIVATE parc)
  endif()
  target_compile_options(${helper} PRIVATE ${PARC_WARNINGS})
  target_compile_definitions(${helper} PRIVATE _GNU_SOURCE)
  set_target_properties(${helper} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
endforeach()
target_compile_definitions(globals_helper_1m PRIVATE BIG_BSS=1048576)
target_compile_definitions(globals_helper_100m PRIVATE BIG_BSS=104857600)
parc_test_binary(test_globals parc)
target_compile_definitions(test_globals PRIVATE GLOBALS_HELPER="$<TARGET_FILE:globals_helper>"
  GLOBALS_HELPER_STATIC="$<TARGET_FILE:globals_helper_static>")
add_dependencies(test_globals globals_helper globals_helper_1m globals_helper_100m
  globals_helper_static)
parc_test_cases(test_globals test_globals LABELS threads)
