/**
 * Progress bars on stderr (cli-progress) for uploads, `submit --wait` and local solves — only
 * when stderr is a terminal; otherwise `progressBar` returns undefined and callers keep their
 * plain lines (or silence), so logs and pipes see exactly what they saw before.
 */
import { SingleBar } from 'cli-progress';

/** A started bar. `update` takes the value and the text fields of the format. */
export interface ProgressBar {
  update(value: number, fields?: Record<string, string>): void;
  setTotal(total: number): void;
  /** Stop and leave the last state on its own line. Idempotent. */
  stop(): void;
}

/**
 * Start a bar on `stream` (default stderr) when it is a TTY.
 * @param format cli-progress format, e.g. '{bar} {value}/{total} iterations  relLoss {relLoss}'
 * @example const bar = progressBar('upload {bar} {percentage}%', total); bar?.update(sent); bar?.stop();
 */
export function progressBar(
  format: string,
  total: number,
  fields: Record<string, string> = {},
  stream: NodeJS.WriteStream = process.stderr,
): ProgressBar | undefined {
  if (stream.isTTY !== true) return undefined;
  const bar = new SingleBar({
    format,
    stream,
    hideCursor: true,
    clearOnComplete: false,
    stopOnComplete: false,
    barsize: 24,
    etaBuffer: 20,
    barCompleteChar: '█',
    barIncompleteChar: '░',
    fps: 10,
  });
  bar.start(total, 0, fields);
  let stopped = false;
  return {
    update: (v, f) => {
      if (!stopped) bar.update(v, f ?? {});
    },
    setTotal: (t) => {
      if (!stopped) bar.setTotal(t);
    },
    stop: () => {
      if (!stopped) {
        stopped = true;
        bar.stop();
      }
    },
  };
}

/** Bytes as B / KiB / MiB / GiB with one decimal. */
export function formatBytes(b: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) {
    b /= 1024;
    i++;
  }
  return i === 0 ? `${b} B` : `${b.toFixed(1)} ${u[i]}`;
}
