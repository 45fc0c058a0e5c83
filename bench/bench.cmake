# The benchmarks (`make bench` builds them, then runs bench/run). Binaries go
# to <build>/bench/. OpenMP comes from find_package(OpenMP): with GCC that is
# -fopenmp and libgomp, which ships with GCC. Without OpenMP the OpenMP rows
# say "not built"; without GSL bench_workloads is skipped.
find_package(OpenMP COMPONENTS C)
find_package(GSL)

function(parc_bench name)
  add_executable(${name} ${ARGN})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
  target_link_libraries(${name} PRIVATE parc m)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/bench)
  target_compile_options(${name} PRIVATE ${PARC_WARNINGS})
  target_compile_definitions(${name} PRIVATE _GNU_SOURCE)
  if(OpenMP_C_FOUND)
    target_link_libraries(${name} PRIVATE OpenMP::OpenMP_C)
  else()
    target_compile_options(${name} PRIVATE -Wno-unknown-pragmas)
  endif()
endfunction()

parc_bench(bench_overhead ${PROJECT_SOURCE_DIR}/bench/overhead.c ${PROJECT_SOURCE_DIR}/bench/mutex_pool.c)

if(GSL_FOUND)
  parc_bench(bench_workloads ${PROJECT_SOURCE_DIR}/bench/workloads.c)
  target_link_libraries(bench_workloads PRIVATE GSL::gsl)
else()
  message(STATUS "bench: GSL not found (Debian libgsl-dev): bench_workloads is not built")
endif()

# The cache benchmark belongs to the cache's author; it joins when it exists.
if(EXISTS ${PROJECT_SOURCE_DIR}/bench/cache.c)
  # cache_hash.c: the hashes themselves, timed as peers of a hit.
  parc_bench(bench_cache ${PROJECT_SOURCE_DIR}/bench/cache.c ${PROJECT_SOURCE_DIR}/src/cache_hash.c)
  target_link_libraries(bench_cache PRIVATE ${PARC_SQLITE3_TARGET})   # ages entries directly
  target_include_directories(bench_cache PRIVATE ${PROJECT_SOURCE_DIR}/src)
endif()

# What a worker's death costs on PARC_PROCESSES (issue 3's 5 ms target).
parc_bench(bench_crash ${PROJECT_SOURCE_DIR}/bench/crash.c)

# What a task graph's bookkeeping costs per node (issue 8's targets).
parc_bench(bench_graph ${PROJECT_SOURCE_DIR}/bench/graph.c)

# parc_map_reduce against parc_map and OpenMP's reduction (issue 11's targets).
parc_bench(bench_reduce ${PROJECT_SOURCE_DIR}/bench/reduce.c)

# Records of any size and streams against fixed records and today's loop (issue 11).
parc_bench(bench_records ${PROJECT_SOURCE_DIR}/bench/records.c)

# PARC_MPI through rank 0 (issue 12's targets): bench/run --only mpi runs it
# under mpirun. With GSL it also runs the reaction sweep of the examples.
if(PARC_HAVE_MPI)
  if(GSL_FOUND)
    parc_bench(bench_mpi ${PROJECT_SOURCE_DIR}/bench/mpi.c ${PROJECT_SOURCE_DIR}/examples/reaction.c)
    target_link_libraries(bench_mpi PRIVATE GSL::gsl)
    target_include_directories(bench_mpi PRIVATE ${PROJECT_SOURCE_DIR}/examples)
    target_compile_definitions(bench_mpi PRIVATE BENCH_MPI_REACTION=1)
  else()
    parc_bench(bench_mpi ${PROJECT_SOURCE_DIR}/bench/mpi.c)
  endif()
endif()
