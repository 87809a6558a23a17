/**
 * `attnfit generate` — write a planted attention-regression problem.
 *
 * Distribution (all float64, drawn in this order from one seeded stream, each matrix row-major):
 *   A1, A2, A3 (n×d): i.i.d. N(0, 1/d)   — rows have norm ≈ 1, like normalised activations
 *   X_true (d×d):     i.i.d. N(0, scale²) — each logit (A1 X A2ᵀ)_ij then has std ≈ scale
 *   Y_true (d×d):     i.i.d. N(0, 1)      — so H = A3 Y has O(1) entries
 *   B = softmax_rows(A1 X_true A2ᵀ) A3 Y_true   (exact fit: L(X_true, Y_true) = 0 up to rounding)
 *
 * RNG: xoshiro128** (32-bit words), state seeded from the 32-bit --seed by splitmix32; uniforms
 * in (0, 1) carry 53 bits (two outputs); normals by Box–Muller, both values of each pair used.
 * The same (n, d, seed, scale) gives bit-identical files on every machine.
 */
import type { Command } from 'commander';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AttnfitError, ErrorCodes, type Problem } from '@attnfit/shared/core';
import { attentionForward } from '@attnfit/shared/math';
import { checkOutputDir, encodeNpy, encodeSafetensors, writeFilesAtomic, type FileToWrite } from '@attnfit/shared/io';
import { choiceOption, floatOption, intOption } from '../options.js';

/** Defaults of `attnfit generate`, in one place. */
export const GENERATE_DEFAULTS = Object.freeze({
  seed: 0,
  /** Standard deviation of each logit of A1 X_true A2ᵀ: softmax rows are peaked but not one-hot. */
  scale: 2,
  format: 'npy' as 'npy' | 'safetensors',
});

/** Largest n·d accepted (elements per tensor): 2^27 float64 = 1 GiB. */
const MAX_ELEMENTS = 2 ** 27;

/** A planted problem with its ground truth. */
export interface PlantedProblem extends Problem {
  Xtrue: Float64Array;
  Ytrue: Float64Array;
}

/** xoshiro128** seeded by splitmix32; `next()` is a uniform 32-bit unsigned integer. */
class Xoshiro128ss {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  constructor(seed: number) {
    let x = seed >>> 0;
    const sm = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = sm();
    this.s1 = sm();
    this.s2 = sm();
    this.s3 = sm();
  }
  next(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return r;
  }
  /** Uniform in (0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.next() >>> 5,
      lo = this.next() >>> 6; // 27 + 26 bits
    return (hi * 67108864 + lo + 0.5) / 9007199254740992;
  }
}
function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Fill `out` with i.i.d. N(0, std²) by Box–Muller (both values of each pair). */
function fillNormal(rng: Xoshiro128ss, out: Float64Array, std: number): Float64Array {
  for (let i = 0; i < out.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(rng.uniform())),
      th = 2 * Math.PI * rng.uniform();
    out[i] = std * r * Math.cos(th);
    if (i + 1 < out.length) out[i + 1] = std * r * Math.sin(th);
  }
  return out;
}

/**
 * Draw a planted problem (see the module comment for the distribution and the RNG).
 * @param n rows (≥ 1), @param d columns (≥ 1), @param seed 32-bit unsigned seed,
 * @param scale logit standard deviation (> 0)
 * @example const p = plantedProblem(200, 6, 0, 2); // L(p.Xtrue, p.Ytrue) ≈ 0
 */
export function plantedProblem(
  n: number,
  d: number,
  seed: number,
  scale: number,
  warmNoise = 0,
): PlantedProblem & { Xwarm?: Float64Array } {
  const rng = new Xoshiro128ss(seed);
  const sa = 1 / Math.sqrt(d);
  const A1 = fillNormal(rng, new Float64Array(n * d), sa);
  const A2 = fillNormal(rng, new Float64Array(n * d), sa);
  const A3 = fillNormal(rng, new Float64Array(n * d), sa);
  const Xtrue = fillNormal(rng, new Float64Array(d * d), scale);
  const Ytrue = fillNormal(rng, new Float64Array(d * d), 1);
  const B = attentionForward({ n, d, A1, A2, A3 }, Xtrue, Ytrue);
  if (!(warmNoise > 0)) return { n, d, A1, A2, A3, B, Xtrue, Ytrue };
  // Drawn after everything else, so the problem itself does not depend on --warm-noise.
  const Xwarm = fillNormal(rng, new Float64Array(d * d), warmNoise * scale);
  for (let i = 0; i < Xwarm.length; i++) Xwarm[i] += Xtrue[i]!;
  return { n, d, A1, A2, A3, B, Xtrue, Ytrue, Xwarm };
}

interface GenerateOpts {
  n: number;
  d: number;
  seed: number;
  scale: number;
  out: string;
  format: 'npy' | 'safetensors';
  json?: boolean;
  warmNoise?: number;
}

/** Registers `attnfit generate`. */
export function register(program: Command): void {
  program
    .command('generate')
    .summary('write a planted problem (A1 A2 A3 B, X_true, Y_true)')
    .description(
      'Write a planted problem: A1, A2, A3 ~ N(0, 1/d) (n×d), X_true ~ N(0, scale²), Y_true ~ N(0, 1) (d×d), ' +
        'B = softmax_rows(A1 X_true A2ᵀ) A3 Y_true.\n\n' +
        'Files: A1.npy A2.npy A3.npy B.npy (or problem.safetensors), X_true.npy, Y_true.npy, problem.json. ' +
        'Deterministic: xoshiro128** seeded by splitmix32(seed), 53-bit uniforms, Box–Muller normals.',
    )
    .requiredOption('--n <N>', 'rows n (integer >= 1)', intOption('--n', 1))
    .requiredOption('--d <D>', 'dimension d (integer >= 1)', intOption('--d', 1))
    .option(
      '--seed <S>',
      'RNG seed, integer in [0, 4294967295]',
      intOption('--seed', 0, 2 ** 32 - 1),
      GENERATE_DEFAULTS.seed,
    )
    .option(
      '--scale <S>',
      'standard deviation of each logit of A1 X_true A2ᵀ (> 0)',
      floatOption('--scale', { gt: 0 }),
      GENERATE_DEFAULTS.scale,
    )
    .requiredOption('--out <DIR>', 'output directory (created if missing; files in it are replaced atomically)')
    .option(
      '--format <F>',
      'problem tensors as npy (A1.npy …) or safetensors (problem.safetensors)',
      choiceOption('--format', ['npy', 'safetensors'] as const),
      GENERATE_DEFAULTS.format,
    )
    .option(
      '--warm-noise <R>',
      'also write X_warm.npy = X_true + N(0, (R·scale)²) noise: a warm start for `solve --x0` (>= 0)',
      floatOption('--warm-noise', { ge: 0 }),
    )
    .option('--json', 'print a JSON summary on stdout instead of a line of text')
    .action(async (opts: GenerateOpts) => {
      await runGenerate(opts);
    });
}

async function runGenerate(o: GenerateOpts): Promise<void> {
  if (o.n * o.d > MAX_ELEMENTS) {
    throw new AttnfitError(
      ErrorCodes.BAD_OPTION,
      `--n ${o.n} --d ${o.d}: n·d = ${o.n * o.d} exceeds ${MAX_ELEMENTS} elements per tensor`,
      { details: { field: '--n', value: o.n } },
    );
  }
  const problemFiles = o.format === 'npy' ? ['A1.npy', 'A2.npy', 'A3.npy', 'B.npy'] : ['problem.safetensors'];
  await checkOutputDir(o.out, '--out', {
    files: [...problemFiles, 'X_true.npy', 'Y_true.npy', 'problem.json', ...(o.warmNoise ? ['X_warm.npy'] : [])],
  });
  const p = plantedProblem(o.n, o.d, o.seed, o.scale, o.warmNoise ?? 0);
  const nd = [o.n, o.d],
    dd = [o.d, o.d];
  const files: FileToWrite[] = [];
  if (o.format === 'npy') {
    files.push({ path: join(o.out, 'A1.npy'), data: encodeNpy(p.A1, nd) });
    files.push({ path: join(o.out, 'A2.npy'), data: encodeNpy(p.A2, nd) });
    files.push({ path: join(o.out, 'A3.npy'), data: encodeNpy(p.A3, nd) });
    files.push({ path: join(o.out, 'B.npy'), data: encodeNpy(p.B, nd) });
  } else {
    files.push({
      path: join(o.out, 'problem.safetensors'),
      data: encodeSafetensors(
        {
          A1: { shape: nd, data: p.A1 },
          A2: { shape: nd, data: p.A2 },
          A3: { shape: nd, data: p.A3 },
          B: { shape: nd, data: p.B },
        },
        { generator: 'attnfit generate', seed: String(o.seed), scale: String(o.scale) },
      ),
    });
  }
  files.push({ path: join(o.out, 'X_true.npy'), data: encodeNpy(p.Xtrue, dd) });
  files.push({ path: join(o.out, 'Y_true.npy'), data: encodeNpy(p.Ytrue, dd) });
  if (p.Xwarm) files.push({ path: join(o.out, 'X_warm.npy'), data: encodeNpy(p.Xwarm, dd) });
  const meta = {
    n: o.n,
    d: o.d,
    seed: o.seed,
    scale: o.scale,
    format: o.format,
    ...(p.Xwarm ? { warmNoise: o.warmNoise } : {}),
    generator: 'attnfit generate',
    distribution:
      'A1,A2,A3 ~ N(0,1/d); X_true ~ N(0,scale^2); Y_true ~ N(0,1); B = softmax_rows(A1 X_true A2^T) A3 Y_true',
    rng: 'xoshiro128** seeded by splitmix32(seed); 53-bit uniforms; Box-Muller normals; draw order A1, A2, A3, X_true, Y_true',
  };
  files.push({ path: join(o.out, 'problem.json'), data: `${JSON.stringify(meta, null, 2)}\n` });
  await writeFilesAtomic(files);
  // Remove the other format's problem files left by an earlier run, so DIR is never ambiguous.
  const stale = o.format === 'npy' ? ['problem.safetensors'] : ['A1.npy', 'A2.npy', 'A3.npy', 'B.npy'];
  await Promise.all(stale.map((f) => rm(join(o.out, f), { force: true })));
  const names = files.map((f) => basename(f.path));
  if (o.json)
    process.stdout.write(
      `${JSON.stringify({ out: o.out, n: o.n, d: o.d, seed: o.seed, scale: o.scale, format: o.format, files: names })}\n`,
    );
  else
    process.stdout.write(
      `attnfit: wrote planted problem n=${o.n} d=${o.d} (seed ${o.seed}, scale ${o.scale}) to ${o.out}: ${names.join(' ')}\n`,
    );
}
