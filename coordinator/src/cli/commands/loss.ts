/**
 * `attnfit loss PROBLEM --x X.npy --y Y.npy [--grad-out DIR] [--hessian-out H.npy] [--threads N]`
 *
 * Prints exactly one JSON object {"loss","relLoss","gradNormX","gradNormY"} on stdout:
 * loss = L(X, Y) = ‖softmax_rows(A1 X A2ᵀ) A3 Y − B‖²_F (no ½), relLoss = loss / ‖B‖²_F (null
 * when B = 0), gradNorm* = Frobenius norms of ∇_X L, ∇_Y L. Optionally writes gradX.npy and
 * gradY.npy (d×d, of L) into --grad-out and the d²×d² Hessian of L in row-major vec(X) at fixed
 * Y into --hessian-out. Every input is validated before anything is computed or written.
 * Evaluated by the local oracle (thread pool; --threads 1 computes inline): results are bitwise
 * identical for any thread count.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import {
  checkOutputDir,
  checkOutputFile,
  encodeNpy,
  loadMatrix,
  loadProblem,
  writeFilesAtomic,
  type FileToWrite,
} from '@attnfit/shared/io';
import { defaultThreads, shutdownEngine } from '../../engine/index.js';
import { createOracle } from '../../oracle/index.js';
import { threadsOption } from '../options.js';

interface LossOpts {
  x: string;
  y: string;
  gradOut?: string;
  hessianOut?: string;
  threads?: number;
}

/** Registers `attnfit loss`. */
export function register(program: Command): void {
  program
    .command('loss')
    .summary('loss, gradient norms (and gradients / Hessian files) at given X, Y')
    .description(
      'Evaluate L(X, Y) = ‖softmax_rows(A1 X A2ᵀ) A3 Y − B‖²_F (no ½) and print one JSON object ' +
        '{"loss","relLoss","gradNormX","gradNormY"} on stdout (relLoss = loss / ‖B‖²_F; norms are Frobenius).\n\n' +
        'PROBLEM is a directory with A1.npy A2.npy A3.npy B.npy (or problem.safetensors) or a .safetensors file. ' +
        'Exit 0 ok, 2 bad input (with "attnfit: error [CODE]: message" on stderr), 1 internal error.',
    )
    .argument('<PROBLEM>', 'problem directory or .safetensors file')
    .requiredOption('--x <X.npy>', 'X, a d×d float .npy')
    .requiredOption('--y <Y.npy>', 'Y, a d×d float .npy')
    .option('--grad-out <DIR>', 'write gradX.npy and gradY.npy (d×d, gradients of L) into DIR (created if missing)')
    .option('--hessian-out <H.npy>', 'write the d²×d² Hessian of L in row-major vec(X) at fixed Y (8·d⁴ bytes)')
    .option('--threads <N>', 'local threads (integer >= 1, default: all cores; 1 = no thread pool)', threadsOption())
    .action(async (problem: string, opts: LossOpts) => {
      await runLoss(problem, opts);
    });
}

function frob(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

async function runLoss(problemPath: string, o: LossOpts): Promise<void> {
  // 1. Validate every input and output path before computing or writing anything.
  const p = await loadProblem(problemPath);
  const X = await loadMatrix(o.x, { rows: p.d, cols: p.d, field: '--x' });
  const Y = await loadMatrix(o.y, { rows: p.d, cols: p.d, field: '--y' });
  if (o.gradOut !== undefined) await checkOutputDir(o.gradOut, '--grad-out', { files: ['gradX.npy', 'gradY.npy'] });
  if (o.hessianOut !== undefined) await checkOutputFile(o.hessianOut, '--hessian-out');

  // 2. Evaluate through the oracle: fixed block plan, partials added in block order, so the
  //    numbers are bitwise identical for any --threads (1 = inline, no pool).
  const threads = o.threads ?? defaultThreads();
  const oracle = await createOracle(p, { threads: threads === 1 ? 0 : threads });
  let part;
  try {
    part = await oracle.evaluate(X.data, Y.data, {
      loss: true,
      gradX: true,
      gradY: true,
      hessXX: o.hessianOut !== undefined,
    });
  } finally {
    await oracle.close();
    await shutdownEngine();
  }
  const loss = part.loss!;
  let b2 = 0;
  for (let i = 0; i < p.B.length; i++) b2 += p.B[i]! * p.B[i]!;
  const out = { loss, relLoss: b2 > 0 ? loss / b2 : null, gradNormX: frob(part.gradX!), gradNormY: frob(part.gradY!) };

  // 3. Write all requested files as one group (temp files, then renames), then print.
  const files: FileToWrite[] = [];
  if (o.gradOut !== undefined) {
    files.push({ path: join(o.gradOut, 'gradX.npy'), data: encodeNpy(part.gradX!, [p.d, p.d]) });
    files.push({ path: join(o.gradOut, 'gradY.npy'), data: encodeNpy(part.gradY!, [p.d, p.d]) });
  }
  if (o.hessianOut !== undefined)
    files.push({ path: o.hessianOut, data: encodeNpy(part.hessXX!, [p.d * p.d, p.d * p.d]) });
  if (files.length) await writeFilesAtomic(files);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
