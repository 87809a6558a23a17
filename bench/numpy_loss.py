#!/usr/bin/env python3
"""numpy reference for attnfit's loss + both gradients (benchmark only; same math as docs/design.md §1).

    S = A1 X A2^T;  F = softmax_rows(S) (row max subtracted);  H = A3 Y;  C = F H - B
    L = sum(C * C)                                   (no 1/2)
    P = F * G - rowsum(F * G) * F  with G = C H^T    (softmax backward)
    dL/dX = 2 A1^T P A2;   dL/dY = 2 A3^T F^T C

Modes:
  numpy_loss.py bench RUNS 'n,d;n,d;...'   random problems, prints one JSON line with ms per run
  numpy_loss.py process PROBLEM X.npy Y.npy OUTDIR
      whole process: load A1..B, X, Y (.npy), evaluate, save gradX.npy gradY.npy, print the JSON
      {"loss","relLoss","gradNormX","gradNormY"} like `attnfit loss`.
"""
import json
import os
import sys
import time

import numpy as np


def loss_and_grads(A1, A2, A3, B, X, Y):
    S = (A1 @ X) @ A2.T
    S -= S.max(axis=1, keepdims=True)
    F = np.exp(S, out=S)
    F /= F.sum(axis=1, keepdims=True)
    H = A3 @ Y
    C = F @ H - B
    loss = float(np.sum(C * C))
    G = C @ H.T
    FG = F * G
    P = FG - FG.sum(axis=1, keepdims=True) * F
    gradX = 2.0 * (A1.T @ (P @ A2))
    gradY = 2.0 * (A3.T @ (F.T @ C))
    return loss, gradX, gradY


def bench(runs, shapes):
    rng = np.random.default_rng(1)
    out = []
    for n, d in shapes:
        A1, A2, A3, B = (rng.standard_normal((n, d)) for _ in range(4))
        X = rng.standard_normal((d, d)) / d
        Y = rng.standard_normal((d, d))
        loss_and_grads(A1, A2, A3, B, X, Y)  # warm-up
        ms = []
        for _ in range(runs):
            t0 = time.perf_counter()
            loss_and_grads(A1, A2, A3, B, X, Y)
            ms.append((time.perf_counter() - t0) * 1e3)
        out.append({"n": n, "d": d, "ms": ms})
    print(json.dumps({"numpy": np.__version__, "results": out}))


def process(problem, xpath, ypath, outdir):
    A1, A2, A3, B = (np.load(os.path.join(problem, f"{k}.npy")).astype(np.float64) for k in ("A1", "A2", "A3", "B"))
    X = np.load(xpath).astype(np.float64)
    Y = np.load(ypath).astype(np.float64)
    loss, gX, gY = loss_and_grads(A1, A2, A3, B, X, Y)
    os.makedirs(outdir, exist_ok=True)
    np.save(os.path.join(outdir, "gradX.npy"), gX)
    np.save(os.path.join(outdir, "gradY.npy"), gY)
    b2 = float(np.sum(B * B))
    print(json.dumps({"loss": loss, "relLoss": loss / b2 if b2 > 0 else None,
                      "gradNormX": float(np.linalg.norm(gX)), "gradNormY": float(np.linalg.norm(gY))}))


if __name__ == "__main__":
    if sys.argv[1] == "bench":
        bench(int(sys.argv[2]), [tuple(int(v) for v in s.split(",")) for s in sys.argv[3].split(";") if s])
    elif sys.argv[1] == "process":
        process(*sys.argv[2:6])
    else:
        sys.exit(f"usage: {sys.argv[0]} bench RUNS SHAPES | process PROBLEM X Y OUTDIR")
