#!/usr/bin/python3
"""Python's pools on empty tasks: the per-task cost of dispatch.

The peer rows of bench/overhead. Each pool is started and warmed up before
the clock starts (workers spawned, imports done), then maps an identity
function over a list of ints; the row is wall time / tasks in ns, the median
of --repeats runs. Output: one line per pool,
"key<TAB>ns_per_task<TAB>tasks<TAB>label" (bench_util.h reads it).
Debian packages only: python3, python3-joblib.
"""
import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import joblib


def empty(x):
    return x


def run_timed(n, repeats, body):
    """Median ns per task of body(xs) over repeats runs."""
    xs = list(range(n))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        out = body(xs)
        elapsed = time.perf_counter_ns() - start
        if len(out) != n or out[-1] != xs[-1]:
            raise RuntimeError("wrong output")
        samples.append(elapsed / n)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1/10 of the tasks")
    args = parser.parse_args()
    w, reps = args.workers, args.repeats
    scale = 10 if args.quick else 1

    def emit(key, ns, n, label):
        print(f"{key}\t{ns:.1f}\t{n}\t{label}", flush=True)

    n = 1_000_000 // scale
    emit("py_serial", run_timed(n, reps, lambda xs: [empty(x) for x in xs]), n,
         "sequential loop, 1 core")

    with ProcessPoolExecutor(max_workers=w) as ex:
        list(ex.map(empty, range(1000)))
        n = 5_000 // scale
        emit("ppe_chunk1", run_timed(n, reps, lambda xs: list(ex.map(empty, xs, chunksize=1))),
             n, "ProcessPoolExecutor chunksize 1")
        n = 200_000 // scale
        emit("ppe_chunk1000",
             run_timed(n, reps, lambda xs: list(ex.map(empty, xs, chunksize=1000))),
             n, "ProcessPoolExecutor chunksize 1000")

    with mp.Pool(processes=w) as pool:
        pool.map(empty, range(1000))
        n = 1_000_000 // scale
        emit("mp_pool", run_timed(n, reps, lambda xs: pool.map(empty, xs)), n,
             "multiprocessing.Pool.map (default chunksize)")

    with ThreadPoolExecutor(max_workers=w) as ex:
        list(ex.map(empty, range(1000)))
        n = 30_000 // scale
        emit("tpe", run_timed(n, reps, lambda xs: list(ex.map(empty, xs))), n,
             "ThreadPoolExecutor")

    with joblib.Parallel(n_jobs=w) as parallel:
        parallel(joblib.delayed(empty)(x) for x in range(1000))
        n = 30_000 // scale
        emit("joblib", run_timed(n, reps, lambda xs: parallel(joblib.delayed(empty)(x) for x in xs)),
             n, "joblib Parallel (loky, batch_size auto)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
