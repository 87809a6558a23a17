/**
 * python/attnfit.py (numpy only) against the real CLI: fit() gives the same X, Y bits as
 * `attnfit solve` on the same problem, loss() matches `attnfit loss` and returns gradients, CLI
 * errors become AttnfitError with the CLI's code, unknown options are a TypeError; and
 * `pip install --no-index -e` of a copy of python/ works offline in a venv.
 * Without python3 + numpy each test is reported skipped with the reason.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN, cli } from '../helpers/cli.js';
import { testIf } from '../helpers/skip.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PY_DIR = join(ROOT, 'python');
const PYTHON = process.env.TEST_PYTHON || 'python3';

function probe(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import numpy, sys; print(numpy.__version__, sys.version_info[:2] >= (3, 8))'], {
    encoding: 'utf8',
  });
  if (r.error) return `${PYTHON} not found (${(r.error as NodeJS.ErrnoException).code}); set TEST_PYTHON`;
  if (r.status !== 0) return `${PYTHON} has no numpy (${r.stderr.trim().split('\n').pop()})`;
  if (!/True/.test(r.stdout)) return `${PYTHON} is older than 3.8`;
  return undefined;
}

function py(
  code: string,
  env: Record<string, string> = {},
  python = PYTHON,
): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(python, ['-c', code], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: PY_DIR, ...env },
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const missing = probe();
const work = mkdtempSync(join(tmpdir(), 'attnfit-python-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const NAMES = {
  fit: 'fit() returns the bits of `attnfit solve`; loss() matches `attnfit loss` with gradients',
  errors: 'CLI errors raise AttnfitError with the code; bad arguments raise before running',
  pip: 'pip install --no-index -e python/ works offline in a venv (standard-library build backend)',
};

if (missing) {
  for (const n of Object.values(NAMES)) testIf(test, n, missing, () => undefined);
} else {
  test.before(async () => {
    const g = await cli(
      'generate',
      '--n',
      '96',
      '--d',
      '3',
      '--seed',
      '9',
      '--warm-noise',
      '0.05',
      '--out',
      join(work, 'p'),
    );
    assert.is(g.code, 0, g.stderr);
    const s = await cli(
      'solve',
      join(work, 'p'),
      '--x0',
      join(work, 'p', 'X_warm.npy'),
      '--method',
      'newton',
      '--threads',
      '1',
      '--out',
      join(work, 'cli'),
    );
    assert.is(s.code, 0, s.stderr);
  });

  test(NAMES.fit, async () => {
    const r = py(`
import json, numpy as np, attnfit
p = ${JSON.stringify(join(work, 'p'))}
A = [np.load(f"{p}/{k}.npy") for k in ("A1", "A2", "A3", "B")]
X, Y, rep = attnfit.fit(*A, x0=np.load(f"{p}/X_warm.npy"), method="newton", threads=1)
Xc, Yc = np.load(${JSON.stringify(join(work, 'cli', 'X.npy'))}), np.load(${JSON.stringify(join(work, 'cli', 'Y.npy'))})
out = attnfit.loss(*A, X, Y, grad=True)
print(json.dumps({"same": bool(np.array_equal(X, Xc) and np.array_equal(Y, Yc)), "shape": list(X.shape), "relLoss": rep["relLoss"],
  "method": rep["method"], "loss": out["loss"], "gradX": list(out["gradX"].shape), "gradNormX": out["gradNormX"],
  "gradNormCheck": float(np.linalg.norm(out["gradX"]))}))
`);
    assert.is(r.code, 0, r.stderr);
    const o = JSON.parse(r.stdout) as {
      same: boolean;
      shape: number[];
      relLoss: number;
      method: string;
      loss: number;
      gradX: number[];
      gradNormX: number;
      gradNormCheck: number;
    };
    assert.ok(o.same, 'fit() X, Y bitwise equal to attnfit solve');
    assert.equal(o.shape, [3, 3]);
    assert.is(o.method, 'newton');
    assert.ok(o.relLoss < 1e-12, `relLoss ${o.relLoss}`);
    assert.equal(o.gradX, [3, 3]);
    assert.ok(Math.abs(o.gradNormX - o.gradNormCheck) <= 1e-12 * Math.max(1e-300, o.gradNormCheck));
    const cliLoss = await cli(
      'loss',
      join(work, 'p'),
      '--x',
      join(work, 'cli', 'X.npy'),
      '--y',
      join(work, 'cli', 'Y.npy'),
    );
    assert.is(o.loss, (JSON.parse(cliLoss.stdout) as { loss: number }).loss);
  });

  test(NAMES.errors, () => {
    const r = py(`
import json, numpy as np, attnfit
A = np.ones((8, 2)); B = A.copy(); B[3, 1] = np.nan
res = {}
try:
    attnfit.fit(A, A, A, B)
except attnfit.AttnfitError as e:
    res["nan"] = [e.code, e.exit_code, e.message]
try:
    attnfit.fit(A, A, A, A, max_iters=3)
except TypeError as e:
    res["kw"] = str(e)
try:
    attnfit.fit(A, A, np.ones((7, 2)), A)
except ValueError as e:
    res["shape"] = str(e)
try:
    attnfit.fit(A, A, A, A, method="bogus")
except attnfit.AttnfitError as e:
    res["bad"] = [e.code, e.exit_code, e.message]
try:
    attnfit.loss(A, A, A, A, np.eye(2), np.eye(2), cli=["/nonexistent/attnfit"])
except FileNotFoundError as e:
    res["nocli"] = "missing"
print(json.dumps(res))
`);
    assert.is(r.code, 0, r.stderr);
    const o = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal((o.nan as unknown[]).slice(0, 2), ['NON_FINITE', 2]);
    assert.match((o.nan as string[])[2]!, /B\.npy: NaN at \[3, 1\]/);
    assert.match(o.kw as string, /unknown option\(s\) max_iters/);
    assert.match(o.shape as string, /^A3: shape \(7, 2\) but A1 is \(8, 2\)/);
    assert.equal((o.bad as unknown[]).slice(0, 2), ['BAD_OPTION', 2]);
    assert.match((o.bad as string[])[2]!, /--method: must be one of/);
    assert.is(o.nocli, 'missing');
  });

  test(NAMES.pip, () => {
    const venv = join(work, 'venv');
    const mk = spawnSync(PYTHON, ['-m', 'venv', '--system-site-packages', venv], { encoding: 'utf8' });
    assert.is(mk.status, 0, mk.stderr);
    const src = join(work, 'python-src');
    cpSync(PY_DIR, src, { recursive: true });
    const vpy = join(venv, 'bin', 'python');
    const pip = spawnSync(vpy, ['-m', 'pip', 'install', '--no-index', '--disable-pip-version-check', '-q', '-e', src], {
      encoding: 'utf8',
      timeout: 180_000,
    });
    assert.is(pip.status, 0, `${pip.stdout}\n${pip.stderr}`);
    const r = py(
      'import attnfit, numpy as np, json; X, Y, rep = attnfit.fit(*[np.load(f"' +
        join(work, 'p') +
        '/{k}.npy") for k in ("A1","A2","A3","B")], x0=np.load("' +
        join(work, 'p', 'X_warm.npy') +
        '"), threads=1); print(json.dumps([attnfit.__file__, rep["iterations"]]))',
      { PYTHONPATH: '', ATTNFIT_CLI: `${process.execPath} ${BIN}` },
      vpy,
    );
    assert.is(r.code, 0, r.stderr);
    const [file, iters] = JSON.parse(r.stdout) as [string, number];
    assert.is(file, join(src, 'attnfit.py'));
    assert.ok(iters >= 1);
  });
}

test.run();
