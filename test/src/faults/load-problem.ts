/** The small problem and solve options of load-test job `seed` (shared by the clients and the test's local solves). */
import { rng, randMatrix } from '../helpers/rng.js';

export const LOAD_N = 48;
export const LOAD_D = 2;

export function loadProblem(seed: number) {
  const r = rng(1000 + seed);
  const n = LOAD_N,
    d = LOAD_D;
  const problem = {
    n,
    d,
    A1: randMatrix(r, n, d),
    A2: randMatrix(r, n, d),
    A3: randMatrix(r, n, d),
    B: randMatrix(r, n, d),
  };
  // A fixed number of iterations from a given start (no search): the same result everywhere.
  const options = { method: 'lbfgs', maxIter: 8, tol: 1e-300, gtol: 0, x0: randMatrix(r, d, d, 0.5) };
  return { problem, options };
}
