// attnfit dashboard: renders the coordinator's state from its server-sent events (/events) and
// plots the selected job's relative loss per iteration with uPlot (log scale). Read-only: the
// page only ever GETs /events and /api/jobs/<id>/history. window.attnfit is for tests/debugging.
/* global uPlot */

const $ = (sel) => document.querySelector(sel);
const MAX_STARTS_PLOTTED = 10;
const PALETTE = [
  '#2a6fdb',
  '#d9480f',
  '#2b8a3e',
  '#862e9c',
  '#c92a2a',
  '#1098ad',
  '#e67700',
  '#5c940d',
  '#364fc7',
  '#a61e4d',
];

const app = {
  snapshot: null,
  /** Server clock − browser clock (ms), so "last seen" ages are right on a skewed laptop. */
  skew: 0,
  selected: null,
  pinned: false,
  /** The selected job's points [{ start, iteration, relLoss, loss, seconds }]. */
  points: [],
  chart: null,
  throughputChart: null,
  /** Counts of renders (tests wait on these). */
  updates: { state: 0, plot: 0 },
};
window.attnfit = app;

// ---- formatting ----
const exp = (x) => (x === undefined || x === null ? '–' : x === 0 ? '0' : Number(x).toExponential(3));
function dur(s) {
  if (s === undefined || s === null || !Number.isFinite(s)) return '–';
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60),
    r = Math.round(s % 60);
  if (m < 60) return `${m}m ${String(r).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}
function ago(t) {
  if (!t) return '–';
  const s = Math.max(0, (Date.now() + app.skew - t) / 1000);
  return s < 1 ? 'just now' : `${dur(s)} ago`;
}
function bytes(x) {
  const u = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (x >= 1024 && i < u.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x < 10 && i ? x.toFixed(1) : Math.round(x)} ${u[i]}/s`;
}
const iso = (t) => (t ? new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z') : '–');

function cell(text, cls, col) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  if (col) td.dataset.col = col;
  return td;
}

/** Replace a tbody's rows, keyed by `key`, keeping row elements (and selection) stable. */
function renderRows(tbody, items, key, build) {
  const keep = new Map([...tbody.children].map((tr) => [tr.dataset.key, tr]));
  const order = [];
  for (const it of items) {
    const k = key(it);
    let tr = keep.get(k);
    if (!tr) {
      tr = document.createElement('tr');
      tr.dataset.key = k;
    }
    keep.delete(k);
    tr.replaceChildren(...build(it, tr));
    order.push(tr);
  }
  for (const tr of keep.values()) tr.remove();
  order.forEach((tr, i) => {
    if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] ?? null);
  });
}

// ---- tables ----
function renderWorkers(ws) {
  $('#workers-empty').hidden = ws.length > 0;
  renderRows(
    $('#workers tbody'),
    ws,
    (w) => w.name,
    (w, tr) => {
      tr.dataset.worker = w.name;
      tr.dataset.status = w.status;
      return [
        cell(w.name, '', 'name'),
        cell(w.host, '', 'host'),
        cell(w.status, `status status-${w.status}`, 'status'),
        cell(String(w.threads || '–'), 'num', 'threads'),
        cell(w.gemm, '', 'gemm'),
        cell(String(w.tasks), 'num', 'tasks'),
        cell(w.tasksPerSec.toFixed(1), 'num', 'tasksPerSec'),
        cell(String(w.inFlight), 'num', 'inFlight'),
        cell(String(w.cached), 'num', 'cached'),
        cell(ago(w.lastSeen), '', 'lastSeen'),
      ];
    },
  );
}

function renderJobs(jobs) {
  $('#jobs-empty').hidden = jobs.length > 0;
  renderRows(
    $('#jobs tbody'),
    jobs,
    (j) => j.id,
    (j, tr) => {
      tr.dataset.job = j.id;
      tr.dataset.state = j.state;
      tr.classList.toggle('selected', j.id === app.selected);
      // "~": extrapolated from the recent convergence rate; "≤": bounded by the iteration limit.
      const eta =
        j.etaS === undefined
          ? j.state === 'running'
            ? '…'
            : '–'
          : `${j.etaBasis === 'max-iter' ? '≤ ' : '~'}${dur(j.etaS)}`;
      const err = j.error ? ` ${j.error.code}` : '';
      const td = cell(j.state + err, `state state-${j.state}`, 'state');
      if (j.error) td.title = j.error.message;
      return [
        cell(j.id, '', 'id'),
        cell(j.name ?? '', '', 'name'),
        td,
        cell(j.method, '', 'method'),
        cell(String(j.n), 'num', 'n'),
        cell(String(j.d), 'num', 'd'),
        cell(
          j.starts > 1 ? `${j.iteration} (start ${j.start + 1}/${j.starts})` : String(j.iteration),
          'num',
          'iteration',
        ),
        cell(exp(j.relLoss), 'num', 'relLoss'),
        cell(dur(j.elapsedS), 'num', 'elapsed'),
        cell(eta, 'num', 'eta'),
        cell(iso(j.submittedAt), '', 'submitted'),
      ];
    },
  );
}

$('#jobs tbody').addEventListener('click', (ev) => {
  const tr = ev.target.closest('tr[data-job]');
  if (!tr) return;
  app.pinned = true;
  void select(tr.dataset.job);
});

// ---- loss plot ----
function plotData() {
  const starts = [...new Set(app.points.map((p) => p.start))].sort((a, b) => a - b).slice(-MAX_STARTS_PLOTTED);
  const maxIt = app.points.reduce((m, p) => Math.max(m, p.iteration), -1);
  const xs = Array.from({ length: maxIt + 1 }, (_, i) => i);
  const ys = starts.map(() => xs.map(() => null));
  for (const p of app.points) {
    const k = starts.indexOf(p.start);
    if (k >= 0 && p.relLoss > 0) ys[k][p.iteration] = p.relLoss;
  }
  return { starts, data: [xs, ...ys] };
}

function drawPlot() {
  const el = $('#plot');
  const { starts, data } = plotData();
  const key = starts.join(',');
  const width = Math.max(300, el.clientWidth - 14);
  if (!app.chart || app.chart.__key !== key) {
    app.chart?.destroy();
    app.chart = new uPlot(
      {
        width,
        height: 300,
        scales: { x: { time: false }, y: { distr: 3 } },
        axes: [
          { label: 'iteration', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] },
          {
            label: 'relative loss',
            size: 70,
            values: (_u, v) => v.map((x) => (x == null ? '' : Number(x.toPrecision(2)).toExponential())),
          },
        ],
        series: [
          { label: 'iteration' },
          ...starts.map((s, i) => ({
            label: starts.length > 1 ? `start ${s + 1}` : 'relative loss',
            stroke: PALETTE[i % PALETTE.length],
            width: 2,
            points: { show: true, size: 5 },
            spanGaps: false,
            value: (_u, v) => exp(v),
          })),
        ],
        legend: { live: true },
      },
      data,
      el,
    );
    app.chart.__key = key;
  } else {
    app.chart.setData(data);
  }
  const n = app.points.length;
  el.dataset.points = String(n);
  el.dataset.job = app.selected ?? '';
  app.updates.plot++;
  const j = app.snapshot?.jobs.find((x) => x.id === app.selected);
  $('#plot-note').textContent = !app.selected
    ? 'No job selected.'
    : n === 0
      ? j && j.state !== 'running' && j.state !== 'queued'
        ? 'No iteration history: the job ended before this coordinator started.'
        : 'Waiting for the first iteration…'
      : `${n} point${n === 1 ? '' : 's'}; last relative loss ${exp(app.points[n - 1].relLoss)}.`;
}

async function select(id) {
  if (!id) return;
  app.selected = id;
  for (const tr of document.querySelectorAll('#jobs tbody tr')) tr.classList.toggle('selected', tr.dataset.job === id);
  const j = app.snapshot?.jobs.find((x) => x.id === id);
  $('#plot-title').textContent = `— job ${id}${j?.name ? ` (${j.name})` : ''}`;
  app.points = [];
  const buffered = [];
  app.pending = buffered; // points arriving while the history loads
  const r = await fetch(`/api/jobs/${encodeURIComponent(id)}/history`);
  if (app.selected !== id) return;
  const got = r.ok ? (await r.json()).points : [];
  app.pending = null;
  app.points = got;
  for (const p of buffered) addPoint(p, false);
  drawPlot();
}

function addPoint(p, draw = true) {
  const pts = app.points;
  while (
    pts.length &&
    (pts[pts.length - 1].start > p.start ||
      (pts[pts.length - 1].start === p.start && pts[pts.length - 1].iteration >= p.iteration))
  )
    pts.pop();
  pts.push(p);
  if (draw) drawPlot();
}

function autoSelect(jobs) {
  if (app.pinned && jobs.some((j) => j.id === app.selected)) return;
  const pick =
    jobs.find((j) => j.state === 'running') ??
    (app.selected && jobs.some((j) => j.id === app.selected) ? null : jobs[0]);
  if (pick && pick.id !== app.selected) void select(pick.id);
}

// ---- throughput ----
function drawThroughput(tp) {
  const el = $('#throughput');
  const xs = tp.series.map((_, i) => tp.seriesEnd - tp.series.length + 1 + i);
  const data = [xs, tp.series];
  const width = Math.max(300, el.clientWidth - 14);
  if (!app.throughputChart) {
    app.throughputChart = new uPlot(
      {
        width,
        height: 110,
        legend: { show: false },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [{}, { size: 50 }],
        series: [{}, { label: 'tasks/s', stroke: '#2a6fdb', fill: 'rgba(42,111,219,0.12)', width: 1.5 }],
      },
      data,
      el,
    );
  } else {
    app.throughputChart.setData(data);
  }
}

// ---- state ----
function render(s) {
  app.snapshot = s;
  app.skew = s.serverTime - Date.now();
  $('#coord-name').textContent = s.coordinator.name;
  $('#tp-tasks').textContent = s.throughput.tasksPerSec.toFixed(1);
  $('#tp-iters').textContent = String(s.throughput.iterationsPerMin);
  $('#tp-bytes').textContent = bytes(s.throughput.bytesOutPerSec + s.throughput.bytesInPerSec);
  $('#n-workers').textContent = String(s.workers.filter((w) => w.status === 'up').length);
  $('#hb-warning').hidden = s.coordinator.heartbeats;
  renderWorkers(s.workers);
  renderJobs(s.jobs);
  drawThroughput(s.throughput);
  autoSelect(s.jobs);
  app.updates.state++;
}

new ResizeObserver(() => {
  const w = Math.max(300, $('#plot').clientWidth - 14);
  app.chart?.setSize({ width: w, height: 300 });
  app.throughputChart?.setSize({ width: Math.max(300, $('#throughput').clientWidth - 14), height: 110 });
}).observe(document.body);

const es = new EventSource('/events');
es.addEventListener('open', () => {
  $('#live').textContent = 'live';
  $('#live').className = 'badge on';
});
es.addEventListener('error', () => {
  $('#live').textContent = 'reconnecting…';
  $('#live').className = 'badge off';
});
es.addEventListener('state', (e) => render(JSON.parse(e.data)));
es.addEventListener('point', (e) => {
  const { jobId, point } = JSON.parse(e.data);
  if (jobId !== app.selected) return;
  if (app.pending) app.pending.push(point);
  else addPoint(point);
});
drawPlot();
