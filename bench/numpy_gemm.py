#!/usr/bin/env python3
"""numpy dgemm reference timings for bench/gemm.mjs (benchmark only, one thread).

Usage: numpy_gemm.py RUNS 'M,N,K,transA,transB;...' [EXP_N]
Prints one JSON line: {"numpy": version, "results": [{"shape": [M,N,K,tA,tB], "ms": [..]}]}
(+ "exp_ms": [..], the time of np.exp on EXP_N values in [-30, 0], when EXP_N is given).
op(A) is M x K, op(B) is K x N; transposes are taken as strided views (as attnfit receives them).
"""
import json
import sys
import time

import numpy as np


def main():
    runs = int(sys.argv[1])
    shapes = [tuple(int(v) for v in s.split(",")) for s in sys.argv[2].split(";") if s]
    rng = np.random.default_rng(1)
    out = []
    for m, n, k, ta, tb in shapes:
        a = rng.standard_normal((k, m) if ta else (m, k))
        b = rng.standard_normal((n, k) if tb else (k, n))
        opa = a.T if ta else a
        opb = b.T if tb else b
        c = np.empty((m, n))
        inner = max(1, round(5e7 / (m * n * k)))  # same sampling as bench/gemm.mjs
        np.matmul(opa, opb, out=c)  # warm-up
        ms = []
        for _ in range(runs):
            t0 = time.perf_counter()
            for _ in range(inner):
                np.matmul(opa, opb, out=c)
            ms.append((time.perf_counter() - t0) * 1e3 / inner)
        out.append({"shape": [m, n, k, ta, tb], "ms": ms})
    res = {"numpy": np.__version__, "results": out}
    if len(sys.argv) > 3:
        x = -np.abs(rng.standard_normal(int(sys.argv[3]))) * 10
        y = np.empty_like(x)
        np.exp(x, out=y)
        res["exp_ms"] = []
        for _ in range(runs):
            t0 = time.perf_counter()
            np.exp(x, out=y)
            res["exp_ms"].append((time.perf_counter() - t0) * 1e3)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
