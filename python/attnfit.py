"""attnfit from Python: fit and evaluate single-layer softmax attention with the attnfit CLI.

numpy only. Each call writes the arrays as float64 ``.npy`` files into a temporary directory,
runs the ``attnfit`` command line (``solve`` or ``loss``), reads the results back and removes the
directory.

    import numpy as np, attnfit
    X, Y, report = attnfit.fit(A1, A2, A3, B, method="newton", tol=1e-12, x0=X_warm)
    print(report["relLoss"], report["iterations"], report["converged"])
    out = attnfit.loss(A1, A2, A3, B, X, Y, grad=True)   # {"loss", "relLoss", ..., "gradX", "gradY"}

Which CLI runs (first that applies):
  1. the ``cli=`` argument: a path to an executable, or a list of arguments (e.g.
     ``["node", "/opt/attnfit/coordinator/dist/cli/main.js"]``);
  2. the environment variable ``ATTNFIT_CLI`` (split like a shell command line);
  3. ``attnfit`` on PATH (e.g. ``npm install -g`` or ``node_modules/.bin``);
  4. ``node <repo>/coordinator/bin/attnfit.js`` when this file sits in the repository's
     ``python/`` folder (a checkout, or ``pip install -e python/``).

Errors: bad input makes the CLI exit 2 with ``attnfit: error [CODE]: message``; that becomes an
:class:`AttnfitError` with ``.code`` (e.g. ``"NON_FINITE"``), ``.exit_code`` and ``.stderr``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["fit", "loss", "cli_command", "AttnfitError", "SOLVE_OPTIONS"]
__version__ = "0.1.0"

#: ``fit`` keyword → ``attnfit solve`` flag. Values are passed as text; lists repeat the flag.
SOLVE_OPTIONS = {
    "method": "--method",      # "newton" | "newton-cg" | "lbfgs" | "adam" (default: by d)
    "tol": "--tol",            # stop at relative loss <= tol (default 1e-12)
    "gtol": "--gtol",          # stop at reduced gradient norm <= gtol (default 1e-10)
    "max_iter": "--max-iter",  # iterations per start (default 50)
    "starts": "--starts",      # seeded random starts, the best is kept (default 1)
    "seed": "--seed",          # seed of the random starts
    "threads": "--threads",    # local threads (default: all cores)
    "gamma": "--gamma",        # the paper's regulariser weight (default 0)
    "nats": "--nats",          # evaluate on a cluster: NATS URL (or a list of URLs)
    "user": "--user",          # NATS user (deploy user "coordinator": `solve --nats` sends block tasks)
    "password": "--pass",      # NATS password
    "creds": "--creds",        # NATS .creds file
}

_ERROR_RE = re.compile(r"^attnfit: error \[([A-Z_]+)\]: (.*)$", re.M)


class AttnfitError(Exception):
    """The CLI failed. ``code`` is its stable error code (branch on it, not on the message)."""

    def __init__(self, code: str, message: str, exit_code: int, stderr: str = ""):
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message
        self.exit_code = exit_code
        self.stderr = stderr


def cli_command(cli: Union[None, str, Sequence[str]] = None) -> List[str]:
    """The argument list that starts the attnfit CLI (see the module docstring for the order)."""
    if cli is not None:
        return [cli] if isinstance(cli, str) else list(cli)
    env = os.environ.get("ATTNFIT_CLI")
    if env:
        return shlex.split(env)
    found = shutil.which("attnfit")
    if found:
        return [found]
    repo_bin = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "coordinator", "bin", "attnfit.js")
    if os.path.exists(repo_bin):
        node = shutil.which("node")
        if node:
            return [node, os.path.normpath(repo_bin)]
    raise AttnfitError("CLI_NOT_FOUND", "cannot find the attnfit CLI: pass cli=..., set ATTNFIT_CLI, or put `attnfit` on PATH", 1)


def _matrix(name: str, a: Any) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 2:
        raise ValueError(f"{name}: must be a 2-d array (got shape {arr.shape})")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name}: must hold real numbers (got dtype {arr.dtype})")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _write_problem(d: str, A1: Any, A2: Any, A3: Any, B: Any) -> Tuple[str, int]:
    mats = {k: _matrix(k, v) for k, v in (("A1", A1), ("A2", A2), ("A3", A3), ("B", B))}
    shape = mats["A1"].shape
    for k, m in mats.items():
        if m.shape != shape:
            raise ValueError(f"{k}: shape {m.shape} but A1 is {shape}: A1, A2, A3, B must all be n×d")
    prob = os.path.join(d, "problem")
    os.mkdir(prob)
    for k, m in mats.items():
        np.save(os.path.join(prob, f"{k}.npy"), m)
    return prob, shape[1]


def _square(name: str, a: Any, dim: int, d: str) -> str:
    m = _matrix(name, a)
    if m.shape != (dim, dim):
        raise ValueError(f"{name}: shape {m.shape}, expected ({dim}, {dim})")
    path = os.path.join(d, f"{name}.npy")
    np.save(path, m)
    return path


def _run(args: List[str], cli: Union[None, str, Sequence[str]], timeout: Optional[float], verbose: bool) -> str:
    cmd = cli_command(cli) + args
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if verbose else subprocess.PIPE, text=True, timeout=timeout)
    if p.returncode != 0:
        err = p.stderr or ""
        m = _ERROR_RE.search(err)
        if m:
            raise AttnfitError(m.group(1), m.group(2), p.returncode, err)
        raise AttnfitError("INTERNAL", f"attnfit exited with code {p.returncode}: {err.strip()[-2000:]}", p.returncode, err)
    return p.stdout


def fit(A1: Any, A2: Any, A3: Any, B: Any, *, x0: Any = None, y0: Any = None,
        cli: Union[None, str, Sequence[str]] = None, timeout: Optional[float] = None, verbose: bool = False,
        **solve_options: Any) -> Tuple[np.ndarray, np.ndarray, Dict[str, Any]]:
    """Fit X, Y (d×d) minimising ‖softmax_rows(A1 X A2ᵀ) A3 Y − B‖²_F with ``attnfit solve``.

    A1, A2, A3, B: n×d arrays (any real dtype; written as float64). ``x0``/``y0``: warm starts.
    ``solve_options``: the keywords of :data:`SOLVE_OPTIONS` (``method``, ``tol``, ``max_iter``,
    ``starts``, ``threads``, ``nats``, …). ``verbose=True`` lets the CLI's progress through to
    stderr. Returns ``(X, Y, report)`` where report is report.json as a dict (``loss``,
    ``relLoss``, ``iterations``, ``converged``, ``history``, …).

    >>> X, Y, rep = fit(A1, A2, A3, B, x0=X_warm, method="newton")  # doctest: +SKIP
    """
    unknown = sorted(set(solve_options) - set(SOLVE_OPTIONS))
    if unknown:
        raise TypeError(f"fit(): unknown option(s) {', '.join(unknown)} (known: {', '.join(SOLVE_OPTIONS)})")
    with tempfile.TemporaryDirectory(prefix="attnfit-py-") as d:
        prob, dim = _write_problem(d, A1, A2, A3, B)
        out = os.path.join(d, "out")
        args = ["solve", prob, "--out", out]
        if x0 is not None:
            args += ["--x0", _square("x0", x0, dim, d)]
        if y0 is not None:
            args += ["--y0", _square("y0", y0, dim, d)]
        for k, v in solve_options.items():
            if v is None:
                continue
            for item in (v if isinstance(v, (list, tuple)) else [v]):
                args += [SOLVE_OPTIONS[k], repr(item) if isinstance(item, float) else str(item)]
        _run(args, cli, timeout, verbose)
        X = np.load(os.path.join(out, "X.npy"))
        Y = np.load(os.path.join(out, "Y.npy"))
        with open(os.path.join(out, "report.json"), encoding="utf-8") as f:
            report = json.load(f)
    return X, Y, report


def loss(A1: Any, A2: Any, A3: Any, B: Any, X: Any, Y: Any, *, grad: bool = False, hessian: bool = False,
         threads: Optional[int] = None, cli: Union[None, str, Sequence[str]] = None,
         timeout: Optional[float] = None) -> Dict[str, Any]:
    """Evaluate L(X, Y) with ``attnfit loss``.

    Returns ``{"loss", "relLoss", "gradNormX", "gradNormY"}``; with ``grad=True`` also ``"gradX"``
    and ``"gradY"`` (d×d gradients of L, no ½), with ``hessian=True`` also ``"hessian"`` (the
    d²×d² Hessian in row-major vec(X), i.e. ``X.reshape(-1)``, at fixed Y).

    >>> loss(A1, A2, A3, B, X, Y)["relLoss"]  # doctest: +SKIP
    """
    with tempfile.TemporaryDirectory(prefix="attnfit-py-") as d:
        prob, dim = _write_problem(d, A1, A2, A3, B)
        args = ["loss", prob, "--x", _square("X", X, dim, d), "--y", _square("Y", Y, dim, d)]
        gdir = os.path.join(d, "grad")
        hpath = os.path.join(d, "H.npy")
        if grad:
            args += ["--grad-out", gdir]
        if hessian:
            args += ["--hessian-out", hpath]
        if threads is not None:
            args += ["--threads", str(threads)]
        result: Dict[str, Any] = json.loads(_run(args, cli, timeout, False))
        if grad:
            result["gradX"] = np.load(os.path.join(gdir, "gradX.npy"))
            result["gradY"] = np.load(os.path.join(gdir, "gradY.npy"))
        if hessian:
            result["hessian"] = np.load(hpath)
    return result
