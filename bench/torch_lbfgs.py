#!/usr/bin/env python3
"""PyTorch L-BFGS reference for attnfit's solver benchmark (benchmark only, never a test).

    torch_lbfgs.py PROBLEM_DIR X0.npy TOL MAX_SECONDS THREADS

Loads A1, A2, A3, B (.npy, n x d) from PROBLEM_DIR and the start X0 (d x d), sets Y0 = Y*(X0) (the
least-squares Y for X0, the same start attnfit's variable-projection solvers use), then runs
torch.optim.LBFGS (float64, strong-Wolfe line search, history 20) on X and Y jointly to minimise

    L(X, Y) = || softmax_rows(A1 X A2^T) A3 Y - B ||_F^2        (no 1/2, as attnfit)

until L / ||B||^2 <= TOL or MAX_SECONDS of optimisation have passed. Prints one JSON line:
{"torch", "threads", "seconds" (optimisation only: data loading and torch import excluded),
 "iterations" (L-BFGS iterations), "evaluations" (loss+gradient evaluations), "relLoss",
 "reached"}. Run with a python whose `import torch` works (e.g. Debian's python3-torch).
"""
import json
import os
import sys
import time

import numpy as np
import torch


def main():
    pdir, x0_path, tol, max_seconds, threads = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    load = lambda name: torch.from_numpy(np.ascontiguousarray(np.load(os.path.join(pdir, name)), dtype=np.float64))
    A1, A2, A3, B = (load(f"{k}.npy") for k in ("A1", "A2", "A3", "B"))
    X = torch.from_numpy(np.ascontiguousarray(np.load(x0_path), dtype=np.float64)).clone()
    b2 = float((B * B).sum())

    with torch.no_grad():
        M = torch.softmax(A1 @ X @ A2.T, dim=1) @ A3
        Y = torch.linalg.lstsq(M, B).solution
    X.requires_grad_(True)
    Y = Y.contiguous().clone().requires_grad_(True)  # lstsq returns a column-major view
    opt = torch.optim.LBFGS([X, Y], lr=1, max_iter=20, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=0.0, tolerance_change=0.0)
    evals = 0

    def closure():
        nonlocal evals
        evals += 1
        opt.zero_grad()
        R = torch.softmax(A1 @ X @ A2.T, dim=1) @ A3 @ Y - B
        loss = (R * R).sum()
        loss.backward()
        return loss

    t0 = time.perf_counter()
    rel = float("inf")
    while True:
        opt.step(closure)
        with torch.no_grad():
            R = torch.softmax(A1 @ X @ A2.T, dim=1) @ A3 @ Y - B
            rel = float((R * R).sum()) / b2
        state = opt.state[opt._params[0]]
        if rel <= tol or time.perf_counter() - t0 > max_seconds or not np.isfinite(rel):
            break
    seconds = time.perf_counter() - t0
    print(json.dumps({"torch": torch.__version__, "threads": threads, "seconds": seconds,
                      "iterations": int(state.get("n_iter", 0)), "evaluations": evals,
                      "relLoss": rel, "reached": rel <= tol}))


if __name__ == "__main__":
    main()
