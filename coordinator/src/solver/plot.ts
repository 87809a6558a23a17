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
  const W = 640, H = 400, L = 70, R = 20, T = 40, B = 50;
  const pts = history.filter((h) => Number.isFinite(h.relLoss)).map((h) => ({ x: h.iteration, y: Math.log10(Math.max(h.relLoss, 1e-300)) }));
  const xmin = pts.length ? Math.min(...pts.map((p) => p.x)) : 0;
  const xmax = pts.length ? Math.max(xmin + 1, ...pts.map((p) => p.x)) : 1;
  let ymin = pts.length ? Math.floor(Math.min(...pts.map((p) => p.y))) : -16;
  let ymax = pts.length ? Math.ceil(Math.max(...pts.map((p) => p.y))) : 0;
  if (ymax <= ymin) { ymax = ymin + 1; }
  if (ymax - ymin > 400) ymin = ymax - 400;
  const sx = (x: number): number => L + ((x - xmin) / (xmax - xmin)) * (W - L - R);
  const sy = (y: number): number => T + ((ymax - Math.max(y, ymin)) / (ymax - ymin)) * (H - T - B);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`);
  const ystep = Math.max(1, Math.ceil((ymax - ymin) / 10));
  for (let e = ymin; e <= ymax; e += ystep) {
    const y = sy(e).toFixed(1);
    out.push(`<line x1="${L}" y1="${y}" x2="${W - R}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${L - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">1e${e}</text>`);
  }
  const xstep = Math.max(1, Math.ceil((xmax - xmin) / 10));
  for (let i = xmin; i <= xmax; i += xstep) {
    const x = sx(i).toFixed(1);
    out.push(`<line x1="${x}" y1="${T}" x2="${x}" y2="${H - B}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${H - B + 16}" text-anchor="middle">${i}</text>`);
  }
  out.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">iteration</text>`);
  out.push(`<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">relative loss (log scale)</text>`);
  if (pts.length) {
    out.push(`<polyline fill="none" stroke="#1f5fbf" stroke-width="2" points="${pts.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) out.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="#1f5fbf"/>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
