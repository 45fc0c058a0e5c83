#!/usr/bin/python3
"""The seed chapter's workloads in Python, as peers of bench/workloads.

- reaction: the chapter's solve_reaction (scipy solve_ivp, RK45, default
  tolerances rtol 1e-3 atol 1e-6, dense_output as in the chapter) over
  linspace(0.01, 2, N) rate constants; sequential, ProcessPoolExecutor,
  ThreadPoolExecutor, joblib.
- fin: the chapter's fin_tip_temperature over Monte Carlo samples of
  h ~ N(50, 5). The chapter's literal per-sample loop, and numpy the way a
  Python user makes it fast: vectorised over chunks, each chunk drawing its
  own samples from its own seeded generator (the counterpart of parc's
  per-task streams), sequential and on the three pools.

Python solves a k about 100 times slower than GSL, so by default the sweep
rows solve every 10th k of the 20,000 (the same range, evenly thinned) and
report the time x10; --reaction-every 1 solves them all.

Pools are started and warmed up before the clock. Chunked maps use
multiprocessing.Pool.map's own rule, chunksize = ceil(n / (4 x workers)),
which is also a fair choice for ProcessPoolExecutor (whose default, 1, costs
a round trip per task). Output: "key<TAB>seconds<TAB>mean<TAB>label" per row
(bench_util.h reads it). Debian packages only: python3-numpy, python3-scipy,
python3-joblib.
"""
import argparse
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import joblib
import numpy as np
from scipy.integrate import solve_ivp


def solve_reaction(k, C_A0=1.0, t_final=10.0):
    def ode(t, C):
        C_A = C[0]
        return [-k * C_A]

    sol = solve_ivp(ode, [0, t_final], [C_A0], dense_output=True)
    C_A_final = sol.y[0, -1]
    return (C_A0 - C_A_final) / C_A0


def fin_tip_temperature(h, T0=100, T_inf=25, L=0.1, k=200, P=0.04, A=1e-4):
    m = np.sqrt(h * P / (k * A))
    return T_inf + (T0 - T_inf) / np.cosh(m * L)


def fin_chunk(spec):
    """Tip temperatures of one chunk of samples: (seed, chunk index, size)."""
    seed, index, size = spec
    h = np.random.default_rng([seed, index]).normal(50, 5, size)
    return fin_tip_temperature(h)


def chunk_specs(n, chunks, seed=42):
    size = -(-n // chunks)
    return [(seed, i, min(size, n - i * size)) for i in range(chunks) if i * size < n]


def timed(body):
    start = time.perf_counter()
    result = body()
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--quick", action="store_true", help="1/10 of the work")
    parser.add_argument("--only", choices=["reaction", "fin"], default=None)
    parser.add_argument("--reaction-every", type=int, default=10,
                        help="solve every Nth k of the 20,000 and scale the time by N "
                             "(1 = all of them; Python takes ~0.65 ms per k)")
    args = parser.parse_args()
    w = args.workers
    scale = 10 if args.quick else 1

    def emit(key, seconds, values, label):
        mean = float(np.mean(np.concatenate([np.atleast_1d(v) for v in values])))
        print(f"{key}\t{seconds:.4f}\t{mean:.6f}\t{label}", flush=True)

    if args.only in (None, "reaction"):
        every = max(1, args.reaction_every)
        ks = list(np.linspace(0.01, 2.0, 20_000 // scale))[::every]
        chunk = math.ceil(len(ks) / (4 * w))
        note = f", every {every}th k, time x{every}" if every > 1 else ""
        s, r = timed(lambda: [solve_reaction(k) for k in ks])
        emit("reaction:seq", s * every, r, f"sequential (solve_ivp){note}")
        with ProcessPoolExecutor(max_workers=w) as ex:
            list(ex.map(solve_reaction, ks[:2 * w]))
            s, r = timed(lambda: list(ex.map(solve_reaction, ks, chunksize=chunk)))
        emit("reaction:ppe", s * every, r, f"ProcessPoolExecutor, chunksize {chunk}{note}")
        with ThreadPoolExecutor(max_workers=w) as ex:
            list(ex.map(solve_reaction, ks[:2 * w]))
            s, r = timed(lambda: list(ex.map(solve_reaction, ks)))
        emit("reaction:tpe", s * every, r, f"ThreadPoolExecutor{note}")
        with joblib.Parallel(n_jobs=w) as parallel:
            parallel(joblib.delayed(solve_reaction)(k) for k in ks[:2 * w])
            s, r = timed(lambda: parallel(joblib.delayed(solve_reaction)(k) for k in ks))
        emit("reaction:joblib", s * every, r, f"joblib Parallel (loky, batch auto){note}")

    if args.only in (None, "fin"):
        n = 1_000_000 // scale
        h = np.random.default_rng(42).normal(50, 5, n)
        s, r = timed(lambda: [fin_tip_temperature(x) for x in h])
        emit("fin:loop", s, r, "sequential per-sample loop (the chapter's)")
        specs = chunk_specs(n, 4 * w)
        s, r = timed(lambda: [fin_chunk(c) for c in specs])
        emit("fin:numpy", s, r, f"numpy vectorised, sequential ({len(specs)} chunks)")
        with ProcessPoolExecutor(max_workers=w) as ex:
            list(ex.map(fin_chunk, chunk_specs(1000, w)))
            s, r = timed(lambda: list(ex.map(fin_chunk, specs)))
        emit("fin:ppe", s, r, "numpy chunks on ProcessPoolExecutor")
        with ThreadPoolExecutor(max_workers=w) as ex:
            list(ex.map(fin_chunk, chunk_specs(1000, w)))
            s, r = timed(lambda: list(ex.map(fin_chunk, specs)))
        emit("fin:tpe", s, r, "numpy chunks on ThreadPoolExecutor")
        with joblib.Parallel(n_jobs=w) as parallel:
            parallel(joblib.delayed(fin_chunk)(c) for c in chunk_specs(1000, w))
            s, r = timed(lambda: parallel(joblib.delayed(fin_chunk)(c) for c in specs))
        emit("fin:joblib", s, r, "numpy chunks on joblib Parallel (loky)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
