#!/usr/bin/env python3
"""PyTorch multi-start baseline for attnfit's fit-from-scratch benchmark (benchmark only, never a test).

    torch_multistart.py PROBLEM_DIR --method lbfgs|adam --budget SECONDS --seed S
        [--threads T] [--y varpro|joint] [--tol REL] [--scales 0.5,1,2,4,8] [--keep-going]
        [--out DIR]

Loads A1, A2, A3, B (.npy, n x d) from PROBLEM_DIR and minimises, in float64,

    L(X, Y) = || softmax_rows(A1 X A2^T) A3 Y - B ||_F^2          (no 1/2, as attnfit)

from random starts, one after another, until the wall-time budget (optimisation only: torch
import and data loading excluded) is used, or a start reaches relative loss L/||B||^2 <= --tol
(default 1e-12; then it stops unless --keep-going).

Starts: start k draws G (d x d) i.i.d. N(0, 1) from a torch.Generator seeded with
(S * 1000003 + k), takes the logit scale c = scales[k mod len(scales)] and sets X0 = (c / s) G
where s = std(A1 G A2^T) over the first min(n, 256) rows: the start's logits have standard
deviation c whatever the scale of the data (for unit-norm rows this is X0 ~ N(0, c^2)).

Y (--y, default varpro): "varpro" — variable projection like attnfit: Y = Y*(X), the ridge least
squares solution ((F A3)^T (F A3) + lam I) Y = (F A3)^T B (lam = 1e-13 tr / d), recomputed at each
evaluation; the optimiser sees f(X) = L(X, Y*(X)) whose gradient is dL/dX at Y* (envelope theorem;
Y* is detached). "joint" — X and Y are optimised together from (X0, Y*(X0)), the usual PyTorch way.

Methods: "lbfgs" — torch.optim.LBFGS (lr 1, history 20, strong-Wolfe line search), a start ends at
--tol, on a stall (best loss improved by < 1e-9 relative over the last 5 outer steps of up to 20
iterations) or a non-finite loss. "adam" — torch.optim.Adam with lr 0.05 / s (s as above: a step of
~0.05 in the logits), halved whenever 200 steps improved the best loss by less than 1 %; a start
ends at --tol, when the lr falls below 1/16 of its start value, after 5000 steps, or on a
non-finite loss.

Each start's result is the best point it evaluated; an evaluation requested after the budget ends
the start (and the run) at once, so "seconds" exceeds --budget by at most one evaluation.

Prints one JSON line: {"best_rel_loss", "starts", "seconds", "successes" (starts ending with
relative loss <= 1e-10), "method", "y", "threads", "budget", "seed", "evaluations", "torch",
"per_start": [{"start", "scale", "rel_loss", "evaluations", "seconds"}]}.
With --out DIR, also writes X.npy and Y.npy of the best start (Y = Y*(X) for varpro).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

SUCCESS = 1e-10
RIDGE_REL = 1e-13


ADAM_WINDOW, ADAM_MIN_GAIN, ADAM_MAX_STEPS = 200, 0.01, 5000


class OutOfBudget(Exception):
    """Raised by an evaluation requested after the wall-time budget: the start ends there."""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("problem")
    ap.add_argument("--method", choices=["lbfgs", "adam"], required=True)
    ap.add_argument("--budget", type=float, required=True, help="wall-time budget in seconds (> 0)")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--y", choices=["varpro", "joint"], default="varpro")
    ap.add_argument("--tol", type=float, default=1e-12)
    ap.add_argument("--scales", default="0.5,1,2,4,8", help="logit scales c of the starts, cycled")
    ap.add_argument("--keep-going", action="store_true", help="use the whole budget even after a start reaches --tol")
    ap.add_argument("--out", help="write X.npy, Y.npy of the best start here")
    a = ap.parse_args()
    if not a.budget > 0:
        sys.exit("torch_multistart.py: --budget must be > 0")
    scales = [float(s) for s in a.scales.split(",")]
    torch.set_num_threads(a.threads)

    load = lambda name: torch.from_numpy(np.ascontiguousarray(np.load(os.path.join(a.problem, name)), dtype=np.float64))
    A1, A2, A3, B = (load(f"{k}.npy") for k in ("A1", "A2", "A3", "B"))
    n, d = A1.shape
    b2 = float((B * B).sum())
    sub = min(n, 256)

    def y_star(X):
        with torch.no_grad():
            M = torch.softmax(A1 @ X @ A2.T, dim=1) @ A3
            G = M.T @ M
            G = G + (RIDGE_REL * float(torch.trace(G)) / d + 1e-300) * torch.eye(d, dtype=torch.float64)
            L, info = torch.linalg.cholesky_ex(G)
            if int(info) == 0:
                return torch.cholesky_solve(M.T @ B, L)
            return torch.linalg.lstsq(M, B).solution.contiguous()

    def loss_of(X, Y):
        R = torch.softmax(A1 @ X @ A2.T, dim=1) @ A3 @ Y - B
        return (R * R).sum()

    t0 = time.perf_counter()
    elapsed = lambda: time.perf_counter() - t0
    best = {"rel": math.inf, "X": None, "Y": None}
    per_start, total_evals, k = [], 0, 0
    while elapsed() < a.budget:
        ts = elapsed()
        gen = torch.Generator().manual_seed(a.seed * 1000003 + k)
        G = torch.randn(d, d, generator=gen, dtype=torch.float64)
        s = float((A1[:sub] @ G @ A2[:sub].T).std())
        c = scales[k % len(scales)]
        X = (c / s * G).clone().requires_grad_(True)
        if a.y == "joint":
            Y = y_star(X.detach()).contiguous().clone().requires_grad_(True)  # contiguous: LBFGS views grads flat
            params = [X, Y]
        else:
            Y = None
            params = [X]
        evals = 0
        sb = {"f": math.inf, "X": None, "Y": None}  # best point evaluated in this start

        def closure():
            nonlocal evals
            if elapsed() >= a.budget:
                raise OutOfBudget()
            evals += 1
            for p in params:
                p.grad = None
            Yc = Y if Y is not None else y_star(X.detach())
            f = loss_of(X, Yc)
            f.backward()
            fv = float(f)
            if fv < sb["f"]:
                sb.update(f=fv, X=X.detach().clone(), Y=Yc.detach().clone())
            return f

        try:
            closure()
            rel = sb["f"] / b2
            if a.method == "lbfgs":
                opt = torch.optim.LBFGS(params, lr=1, max_iter=20, history_size=20, line_search_fn="strong_wolfe",
                                        tolerance_grad=0.0, tolerance_change=0.0)
                recent = [rel]
                while rel > a.tol:
                    opt.step(closure)
                    rel = sb["f"] / b2
                    recent.append(rel)
                    if not math.isfinite(float(X.detach().sum())) or (len(recent) > 5 and recent[-1] > recent[-6] * (1 - 1e-9)):
                        break
            else:
                lr0 = 0.05 / s
                opt = torch.optim.Adam(params, lr=lr0)
                lr, ref = lr0, rel
                for it in range(1, ADAM_MAX_STEPS + 1):
                    if rel <= a.tol:
                        break
                    opt.step()  # the gradient of the last closure() call
                    f = float(closure()) / b2
                    rel = sb["f"] / b2
                    if not math.isfinite(f):
                        break
                    if it % ADAM_WINDOW == 0:
                        if rel > ref * (1 - ADAM_MIN_GAIN):  # < 1 % better than a window ago
                            lr /= 2
                            if lr < lr0 / 16:
                                break
                            for g in opt.param_groups:
                                g["lr"] = lr
                        ref = rel
        except OutOfBudget:
            pass
        total_evals += evals
        rel = sb["f"] / b2 if sb["X"] is not None else math.inf
        if not math.isfinite(rel):
            rel = math.inf
        per_start.append({"start": k, "scale": c, "rel_loss": rel, "evaluations": evals, "seconds": round(elapsed() - ts, 4)})
        if rel < best["rel"]:
            best = {"rel": rel, "X": sb["X"], "Y": sb["Y"]}
        k += 1
        if best["rel"] <= a.tol and not a.keep_going:
            break
    seconds = elapsed()
    if a.out and best["X"] is not None:
        os.makedirs(a.out, exist_ok=True)
        np.save(os.path.join(a.out, "X.npy"), best["X"].numpy())
        np.save(os.path.join(a.out, "Y.npy"), best["Y"].numpy())
    print(json.dumps({
        "best_rel_loss": best["rel"] if math.isfinite(best["rel"]) else None,
        "starts": len(per_start), "seconds": seconds,
        "successes": sum(1 for p in per_start if p["rel_loss"] <= SUCCESS),
        "method": a.method, "y": a.y, "threads": a.threads, "budget": a.budget, "seed": a.seed, "tol": a.tol,
        "scales": scales, "evaluations": total_evals, "torch": torch.__version__, "per_start": per_start,
    }))


if __name__ == "__main__":
    main()
