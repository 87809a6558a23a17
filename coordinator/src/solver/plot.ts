/**
 * A hand-written SVG loss curve: relative loss (log10 scale) against iteration.
 */
import type { IterationRecord } from './types.js';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Render history as an SVG line plot of relLoss (log scale, floored at 1e-300) per iteration.
 * @example writeFileAtomic('loss.svg', lossCurveSvg(result.history, 'newton, n=256 d=4'));
 */
export function lossCurveSvg(history: readonly IterationRecord[], title: string): string {
  return curveSvg(
    history.map((h) => ({ x: h.iteration, rel: h.relLoss })),
    'iteration',
    title,
    false,
  );
}

/**
 * The search's best-so-far relative loss (log scale) against seconds, as a step plot.
 * @example lossCurveSvg is used for single starts; this one when report.search is present.
 */
export function searchCurveSvg(best: ReadonlyArray<{ seconds: number; relLoss: number }>, title: string): string {
  return curveSvg(
    best.map((b) => ({ x: b.seconds, rel: b.relLoss })),
    'seconds (population best so far)',
    title,
    true,
  );
}

function curveSvg(
  raw: ReadonlyArray<{ x: number; rel: number }>,
  xlabel: string,
  title: string,
  steps: boolean,
): string {
  const W = 640,
    H = 400,
    L = 70,
    R = 20,
    T = 40,
    B = 50;
  const pts = raw
    .filter((h) => Number.isFinite(h.rel))
    .map((h) => ({ x: h.x, y: Math.log10(Math.max(h.rel, 1e-300)) }));
  const xmin = pts.length ? Math.min(...pts.map((p) => p.x)) : 0;
  const xmax = pts.length ? Math.max(xmin + 1, ...pts.map((p) => p.x)) : 1;
  let ymin = pts.length ? Math.floor(Math.min(...pts.map((p) => p.y))) : -16;
  let ymax = pts.length ? Math.ceil(Math.max(...pts.map((p) => p.y))) : 0;
  if (ymax <= ymin) {
    ymax = ymin + 1;
  }
  if (ymax - ymin > 400) ymin = ymax - 400;
  const sx = (x: number): number => L + ((x - xmin) / (xmax - xmin)) * (W - L - R);
  const sy = (y: number): number => T + ((ymax - Math.max(y, ymin)) / (ymax - ymin)) * (H - T - B);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`);
  const ystep = Math.max(1, Math.ceil((ymax - ymin) / 10));
  for (let e = ymin; e <= ymax; e += ystep) {
    const y = sy(e).toFixed(1);
    out.push(`<line x1="${L}" y1="${y}" x2="${W - R}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${L - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">1e${e}</text>`);
  }
  const span = xmax - xmin;
  const xstep = steps ? niceStep(span / 8) : Math.max(1, Math.ceil(span / 10));
  for (let i = Math.ceil(xmin / xstep) * xstep; i <= xmax + 1e-9; i += xstep) {
    const x = sx(i).toFixed(1);
    out.push(`<line x1="${x}" y1="${T}" x2="${x}" y2="${H - B}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${H - B + 16}" text-anchor="middle">${Number(i.toPrecision(6))}</text>`);
  }
  out.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(xlabel)}</text>`);
  out.push(
    `<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">relative loss (log scale)</text>`,
  );
  if (pts.length) {
    const line = steps ? pts.flatMap((p, i) => (i ? [{ x: p.x, y: pts[i - 1]!.y }, p] : [p])) : pts;
    out.push(
      `<polyline fill="none" stroke="#1f5fbf" stroke-width="2" points="${line.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>`,
    );
    for (const p of pts)
      out.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="#1f5fbf"/>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** 1, 2 or 5 times a power of ten, at least `raw` (axis ticks). */
function niceStep(raw: number): number {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}
