/// <reference lib="dom" />
/**
 * The dashboard in a real browser: nats-server + `attnfit coordinator --http 127.0.0.1:0` + a
 * worker, the page opened in headless Chromium (system package, puppeteer-core). While a job
 * runs, the worker and job rows appear with their values, the loss plot gains points as
 * iterations arrive over server-sent events (the same points the coordinator's history API
 * gives), and a screenshot is saved as a test artefact (test/artifacts/dashboard.png or
 * $TEST_ARTIFACTS). Without a browser the test is reported skipped with the reason.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { ClusterClient } from '@attnfit/coordinator';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { rng, randMatrix } from '../helpers/rng.js';
import { launchBrowser } from '../helpers/browser.js';
import { testIf } from '../helpers/skip.js';
import { artifactsDir } from '../helpers/artifacts.js';
import { startCoordinatorProc, startWorkerProc, stopAll, type CliProc } from '../cluster/procs.js';

const NAME = 'the dashboard shows worker and job rows and a live loss plot in headless Chromium';
const launched = await launchBrowser();

if ('reason' in launched) {
  testIf(test, NAME, launched.reason, () => undefined);
} else {
  const browser: Browser = launched.browser;
  let server: NatsServerHandle | undefined;
  let coord: CliProc | undefined;
  let worker: CliProc | undefined;

  test.after(async () => {
    await browser.close().catch(() => undefined);
    await stopAll([worker, coord]);
    await server?.stop();
  });

  test(NAME, async () => {
    server = await startNatsServer();
    coord = await startCoordinatorProc(['--nats', server.url, '--http', '127.0.0.1:0']);
    const dash = /dashboard on (http:\/\/127\.0\.0\.1:\d+)\//.exec(coord.out())![1]!;
    worker = await startWorkerProc(['--nats', server.url, '--name', 'worker-1']);
    const page: Page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(`${dash}/`, { waitUntil: 'load' });

    // The worker row, from heartbeats.
    await page.waitForSelector('#workers tr[data-worker="worker-1"][data-status="up"]', { timeout: 30_000 });
    const wcells = await page.$$eval('#workers tr[data-worker="worker-1"] td', (tds) =>
      Object.fromEntries(tds.map((td) => [(td as HTMLElement).dataset.col, td.textContent])),
    );
    assert.is(wcells.threads, '1');
    assert.ok((wcells.gemm ?? '').length > 0 && wcells.gemm !== '?');
    assert.is(await page.$eval('#live', (e) => e.textContent), 'live');

    // A job that runs until cancelled: L-BFGS on a random (not planted) problem.
    const client = await ClusterClient.connect({ servers: server.url });
    try {
      const r = rng(12);
      const n = 96,
        d = 3;
      const p = {
        n,
        d,
        A1: randMatrix(r, n, d),
        A2: randMatrix(r, n, d),
        A3: randMatrix(r, n, d),
        B: randMatrix(r, n, d),
      };
      const { jobId } = await client.submit(
        p,
        { method: 'lbfgs', maxIter: 100_000, tol: 1e-300, gtol: 0, x0: randMatrix(r, d, d, 0.5) },
        'browser-test',
      );
      const row = `#jobs tr[data-job="${jobId}"]`;
      await page.waitForSelector(`${row}[data-state="running"]`, { timeout: 60_000 });
      // The plot follows the running job (auto-selected) and gains points.
      const points = () => page.$eval('#plot', (e) => Number((e as HTMLElement).dataset.points));
      await page.waitForFunction(
        (id: string) => {
          const el = document.querySelector('#plot') as HTMLElement;
          return el.dataset.job === id && Number(el.dataset.points) >= 3;
        },
        { timeout: 60_000 },
        jobId,
      );
      const first = await points();
      await page.waitForFunction(
        (k: number) => Number((document.querySelector('#plot') as HTMLElement).dataset.points) >= k,
        { timeout: 60_000 },
        first + 10,
      );
      const cells = await page.$$eval(`${row} td`, (tds) =>
        Object.fromEntries(tds.map((td) => [(td as HTMLElement).dataset.col, td.textContent])),
      );
      assert.is(cells.method, 'lbfgs');
      assert.is(cells.n, '96');
      assert.is(cells.d, '3');
      assert.is(cells.name, 'browser-test');
      assert.match(cells.relLoss ?? '', /^\d\.\d{3}e[-+]\d+$/);
      assert.match(cells.submitted ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      // uPlot holds the points (log scale: every value positive).
      const plotted = await page.evaluate(() => {
        const a = (window as unknown as { attnfit: { chart: { data: Array<Array<number | null>> } } }).attnfit;
        return a.chart.data[1]!.filter((v) => v !== null);
      });
      assert.ok(plotted.length >= first + 10, `plotted ${plotted.length}`);
      assert.ok(plotted.every((v) => (v as number) > 0));
      assert.ok(await page.$('#plot canvas'), 'uPlot drew a canvas');
      // The worker row updates too (its task count comes with the next heartbeat).
      await page.waitForFunction(
        () =>
          Number(document.querySelector('#workers tr[data-worker="worker-1"] td[data-col="tasks"]')?.textContent) > 0,
        { timeout: 30_000 },
      );
      await page.screenshot({ path: join(artifactsDir(), 'dashboard.png') });

      const rec = await client.cancel(jobId, 60_000);
      assert.is(rec!.state, 'cancelled');
      await page.waitForSelector(`${row}[data-state="cancelled"]`, { timeout: 30_000 });
      // Every iteration reached the page: the plot equals the coordinator's history.
      const hist = (await (await fetch(`${dash}/api/jobs/${jobId}/history`)).json()) as { points: unknown[] };
      await page.waitForFunction(
        (k: number) => Number((document.querySelector('#plot') as HTMLElement).dataset.points) === k,
        { timeout: 30_000 },
        hist.points.length,
      );
      assert.is(hist.points.length, rec!.iteration + 1);
    } finally {
      await client.close();
    }
    assert.equal(errors, [], `browser errors: ${errors.join('\n')}`);
  });
}

test.run();
