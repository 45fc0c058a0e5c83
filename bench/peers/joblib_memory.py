#!/usr/bin/python3
"""joblib.Memory on the cache benchmark's workload: the peer rows of bench/cache.c.

f(x) = x * x on an int (8 bytes in, 8 bytes out in parc's version),
memoized with joblib.Memory in a fresh directory: first n calls miss and
store, the next n calls (same arguments) hit. Rows are ns per call.
joblib keeps one directory per call, so n stays at 10^4 (10^3 with
--quick); 10^6 entries would be a million directories.
Output: "key<TAB>ns_per_call<TAB>n<TAB>label" lines (bench_util.h reads them).
Debian packages only: python3, python3-joblib.
"""
import argparse
import shutil
import tempfile
import time

import joblib


def square(x):
    return x * x


def per_call(fn, xs):
    start = time.perf_counter_ns()
    for x in xs:
        if fn(x) != x * x:
            raise RuntimeError("wrong output")
    return (time.perf_counter_ns() - start) / len(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-n", type=int, default=0)
    args = ap.parse_args()
    n = args.n or (1000 if args.quick else 10000)
    xs = list(range(n))
    where = tempfile.mkdtemp(prefix="parc-joblib-")
    try:
        memory = joblib.Memory(location=where, verbose=0)
        cached = memory.cache(square)
        bare = per_call(square, xs)
        miss = per_call(cached, xs)
        hit = per_call(cached, xs)
        print(f"joblib_bare\t{bare:.1f}\t{n}\tplain Python call")
        print(f"joblib_miss\t{miss:.1f}\t{n}\tjoblib.Memory miss (computes, stores)")
        print(f"joblib_hit\t{hit:.1f}\t{n}\tjoblib.Memory hit")
    finally:
        shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()
