// A small hand-written SVG for bench/scaling.mjs: speedup (log2–log2) and efficiency (log2 x,
// linear y) against the worker count, one polyline per series, two panels side by side.
// Benchmarks only — nothing in the product imports this.

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * @param series [{ name, color, dash?, points: [{ x: workers, speedup, efficiency }] }]
 * @param title  one line above both panels
 * @param note   one line under the panels (assumptions)
 */
export function scalingSvg(series, title, note = '') {
  const W = 1000,
    H = 450,
    PW = 400,
    PH = 280,
    top = 50,
    lefts = [70, 570];
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const xmax = Math.max(2, ...xs);
  const lx = (x, left) => left + (Math.log2(x) / Math.log2(xmax)) * PW;
  const ymaxS = xmax;
  const lyS = (y) => top + PH - (Math.log2(Math.max(y, 0.5)) / Math.log2(ymaxS)) * PH;
  const lyE = (y) => top + PH - (Math.min(Math.max(y, 0), 1.1) / 1.1) * PH;
  const o = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  o.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  o.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`);
  const panels = [
    { left: lefts[0], name: 'speedup T(1) / T(N)', ly: lyS, key: 'speedup', ticks: [] },
    { left: lefts[1], name: 'efficiency T(1) / (N·T(N))', ly: lyE, key: 'efficiency', ticks: [] },
  ];
  for (let v = 1; v <= ymaxS; v *= 2) panels[0].ticks.push([v, String(v)]);
  for (let v = 0; v <= 1.0001; v += 0.2) panels[1].ticks.push([v, v.toFixed(1)]);
  for (const P of panels) {
    for (const [v, label] of P.ticks) {
      const y = P.ly(v).toFixed(1);
      o.push(`<line x1="${P.left}" y1="${y}" x2="${P.left + PW}" y2="${y}" stroke="#ddd"/>`);
      o.push(`<text x="${P.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${label}</text>`);
    }
    for (let x = 1; x <= xmax; x *= 2) {
      const X = lx(x, P.left).toFixed(1);
      o.push(`<line x1="${X}" y1="${top}" x2="${X}" y2="${top + PH}" stroke="#eee"/>`);
      o.push(`<text x="${X}" y="${top + PH + 16}" text-anchor="middle">${x}</text>`);
    }
    o.push(`<rect x="${P.left}" y="${top}" width="${PW}" height="${PH}" fill="none" stroke="#333"/>`);
    o.push(
      `<text x="${P.left + PW / 2}" y="${top + PH + 34}" text-anchor="middle">workers N (log scale)</text>`,
      `<text x="${P.left + PW / 2}" y="${top - 8}" text-anchor="middle">${esc(P.name)}</text>`,
    );
    for (const s of series) {
      const pts = s.points.filter((p) => Number.isFinite(p[P.key]));
      if (!pts.length) continue;
      const d = pts.map((p) => `${lx(p.x, P.left).toFixed(1)},${P.ly(p[P.key]).toFixed(1)}`).join(' ');
      o.push(
        `<polyline points="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
      );
      if (s.marks)
        for (const p of pts)
          o.push(
            `<circle cx="${lx(p.x, P.left).toFixed(1)}" cy="${P.ly(p[P.key]).toFixed(1)}" r="3" fill="${s.color}"/>`,
          );
    }
  }
  // Legend under the panels (wrapped).
  let x = lefts[0];
  let ly = top + PH + 58;
  for (const s of series) {
    const w = 40 + 6.5 * s.name.length;
    if (x + w > W - 10) {
      x = lefts[0];
      ly += 20;
    }
    o.push(
      `<line x1="${x}" y1="${ly}" x2="${x + 24}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
      `<text x="${x + 30}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`,
    );
    x += w;
  }
  if (note) o.push(`<text x="${lefts[0]}" y="${ly + 22}" font-size="11" fill="#555">${esc(note)}</text>`);
  o.push('</svg>');
  return o.join('\n') + '\n';
}

/** The plot of a bench/scaling.mjs result ({ machine, params, sim }). */
export function scalingPlot({ machine: m, params: q, sim }) {
  const pts = (f) => sim.map((r) => ({ x: r.workers, ...f(r) }));
  return scalingSvg(
    [
      { name: 'ideal', color: '#999', dash: '4 4', points: pts((r) => ({ speedup: r.workers, efficiency: 1 })) },
      {
        name: 'simulated (real coordinator + NATS)',
        color: '#d62728',
        marks: true,
        points: pts((r) => ({ speedup: r.speedup, efficiency: r.efficiency })),
      },
      {
        name: 'model: queue group (random)',
        color: '#1f77b4',
        points: pts((r) => ({ speedup: r.model.speedupRandom, efficiency: r.model.efficiencyRandom })),
      },
      {
        name: 'model: even spread',
        color: '#2ca02c',
        dash: '6 3',
        points: pts((r) => ({ speedup: r.model.speedupSpread, efficiency: r.model.efficiencySpread })),
      },
      {
        name: 'model: queue group, coordinator pipeline of this machine',
        color: '#9467bd',
        dash: '2 3',
        points: pts((r) => ({ speedup: r.model.speedupPipeline, efficiency: r.model.efficiencyPipeline })),
      },
    ],
    `exact-Newton iteration, n = ${q.n}, d = ${q.d}, ${sim[0].shards} shards, ${q.threads} threads / simulated worker`,
    `links ${q.bw / 1e9} GB/s (coordinator ${q.bwCoord / 1e9} GB/s), latency ${q.latencyMs} ms; compute calibrated on ${m.cpu}, ${m.cores} cores; ${m.date.slice(0, 10)}`,
  );
}
