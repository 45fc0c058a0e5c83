# PARC_MPI's suite: tests/test_mpi.c under mpirun, one ctest per case and
# launch: mpi_n3/CASE (mpirun -n 3: one node leader with 2 forked workers),
# mpi_n5/CASE (-n 5, every rank a leader: PARC_MPI_LEADERS=rank),
# mpi_n5_node/CASE (-n 5, one node leader with 4 workers), mpi_n3_threads/CASE
# (leaders' local pools of threads: PARC_MPI_LOCAL=threads) and
# mpi_n3_own_init/CASE (the program calls MPI_Init_thread itself; three
# batches in flight per leader). As root Open MPI wants
# OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM); --oversubscribe runs 5 ranks on 2 cores.
# Skipped (77) without MPI in libparc or without mpirun. Label "mpi" (ctest
# -L mpi); "no-asan": the sanitizer builds are made without MPI
# (Makefile: Open MPI's own allocations and threads are not ours to fix),
# so their run tests the PARC_EBACKEND path instead.
parc_test_binary(test_mpi parc)
if(PARC_HAVE_MPI)
  target_link_libraries(test_mpi PRIVATE MPI::MPI_C)
  target_compile_definitions(test_mpi PRIVATE PARC_TEST_HAVE_MPI=1)
endif()
set(PARC_MPI_ENV OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  OMPI_MCA_rmaps_base_oversubscribe=1 ${PARC_PLAIN_DEATHS})
find_program(PARC_MPIRUN NAMES mpirun mpiexec)

# parc_mpi_cases(PREFIX NP ENV...): PREFIX/CASE runs `mpirun -n NP test_mpi CASE`.
function(parc_mpi_cases prefix np)
  set(cases ${CMAKE_CURRENT_BINARY_DIR}/test_mpi.cases)
  get_property(listed TARGET test_mpi PROPERTY PARC_CASES_LISTED)
  if(NOT listed)
    add_custom_command(TARGET test_mpi POST_BUILD
      COMMAND ${CMAKE_COMMAND} -DBINARY=$<TARGET_FILE:test_mpi> -DOUTPUT=${cases}
        -P ${PARC_LIST_CASES_SCRIPT}
      COMMENT "Listing the test cases of test_mpi" VERBATIM)
    set_property(TARGET test_mpi PROPERTY PARC_CASES_LISTED TRUE)
  endif()
  if(PARC_HAVE_MPI AND PARC_MPIRUN)
    set(command "\"${PARC_MPIRUN}\" --oversubscribe -n ${np} \"$<TARGET_FILE:test_mpi>\"")
  else()
    set(command "\"$<TARGET_FILE:test_mpi>\"")   # skips itself (77) without MPI
  endif()
  set(env ${PARC_MPI_ENV} ${ARGN})
  set(include_file ${CMAKE_CURRENT_BINARY_DIR}/${prefix}_cases.cmake)
  file(GENERATE OUTPUT ${include_file} CONTENT
"if(EXISTS [==[${cases}]==])
  file(STRINGS [==[${cases}]==] parc_cases)
  foreach(parc_case IN LISTS parc_cases)
    add_test(\"${prefix}/\${parc_case}\" ${command} \"\${parc_case}\")
    set_tests_properties(\"${prefix}/\${parc_case}\" PROPERTIES LABELS \"mpi;no-asan\" TIMEOUT 300
      SKIP_RETURN_CODE 77 ENVIRONMENT [==[${env}]==])
  endforeach()
else()
  add_test(${prefix}_NOT_BUILT ${prefix}_NOT_BUILT)
endif()
")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${include_file})
endfunction()

parc_mpi_cases(mpi_n3 3)
parc_mpi_cases(mpi_n5 5 PARC_MPI_LEADERS=rank)
parc_mpi_cases(mpi_n5_node 5)
parc_mpi_cases(mpi_n3_threads 3 PARC_MPI_LOCAL=threads)
parc_mpi_cases(mpi_n3_own_init 3 PARC_TEST_MPI_INIT=1 PARC_MPI_INFLIGHT=3)

# A rank lost for good: a task kills its leader; Open MPI ends the job, and
# rank 0's last word names what each leader held (its SIGTERM report).
if(PARC_HAVE_MPI AND PARC_MPIRUN)
  add_test(NAME mpi_lost_rank COMMAND ${PARC_MPIRUN} --oversubscribe -n 3 $<TARGET_FILE:test_mpi> --lose-a-rank)
  set_tests_properties(mpi_lost_rank PROPERTIES LABELS "mpi;no-asan" TIMEOUT 120
    ENVIRONMENT "${PARC_MPI_ENV};PARC_MPI_LEADERS=rank"
    PASS_REGULAR_EXPRESSION "parc: the MPI job was ended while rank [12] ran tasks [0-9]+")
endif()
