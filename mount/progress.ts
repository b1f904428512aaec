// Progress on stderr for the work that takes a while, a bar with the ETA on a terminal (cli-progress), else
// plain lines. progress(): the commands (check, backup, restore), amounts done of a total, a plain line at
// most every PLAIN_EVERY_MS; with `bytes`, the amounts are bytes and the bar and lines show how many of how
// many and the rate. steps(): a plan of steps known in advance (the benchmarks' turns), a plain line per
// step as it ends, with N of M, the time elapsed and the ETA (the mean step so far times the steps left).
// `stop` ends either (clears the bar).
import { createRequire } from 'node:module';

import type CliProgress from 'cli-progress';

const require = createRequire(import.meta.url);

/** cli-progress, loaded when a bar or its time format is first wanted: not at all when stderr is not a terminal (~11 ms of CPU at start) */
const cliProgress = (): typeof CliProgress => require('cli-progress') as typeof CliProgress;

const PLAIN_EVERY_MS = 5000;

export interface ProgressOptions {
  /** the command, for the plain lines ('check': "persistfs check: ...") */
  command: string;
  /** what is being done, before the bar ('checking') and after the percentage on plain lines ('checked') */
  doing: string;
  done: string;
  /** the amounts are bytes: show them and the rate */
  bytes?: boolean;
}

export interface Progress {
  /** `done` of `total`, now at `item` (a file) */
  update: (done: number, total: number, item: string) => void;
  stop: () => void;
}

/** `bytes` as MiB (or GiB), one decimal. */
export function formatBytes(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

export function progress(options: ProgressOptions): Progress {
  const start = Date.now();
  const amounts = (done: number, total: number) => {
    const seconds = (Date.now() - start) / 1000;
    return { amount: `${formatBytes(done)} of ${formatBytes(total)}`, rate: `${formatBytes(seconds > 0 ? done / seconds : 0)}/s` };
  };
  if (process.stderr.isTTY) {
    const format = options.bytes
      ? `${options.doing} {bar} {percentage}% | {amount} | {rate} | ETA {eta_formatted} | {item}`
      : `${options.doing} {bar} {percentage}% | ETA {eta_formatted} | {item}`;
    const bar = new (cliProgress().SingleBar)(
      { stream: process.stderr, format, clearOnComplete: true, hideCursor: true },
      cliProgress().Presets.shades_classic,
    );
    let started = false;
    return {
      update: (done, total, item) => {
        const payload = { item, ...(options.bytes ? amounts(done, total) : {}) };
        if (!started) bar.start(total, done, payload);
        started = true;
        bar.setTotal(total);
        bar.update(done, payload);
      },
      stop: () => started && bar.stop(),
    };
  }
  let last = start;
  return {
    update: (done, total, item) => {
      const now = Date.now();
      if (now - last < PLAIN_EVERY_MS || total === 0 || done === 0) return;
      last = now;
      const eta = Math.round((((now - start) / done) * (total - done)) / 1000);
      const { amount, rate } = amounts(done, total);
      const size = options.bytes ? ` (${amount}, ${rate})` : '';
      process.stderr.write(`persistfs ${options.command}: ${Math.floor((done / total) * 100)}% ${options.done}${size}, ETA ${eta}s (${item})\n`);
    },
    stop: () => undefined,
  };
}

/** Where steps() writes: stderr, or a stream a test gives (isTTY true for the bar). */
export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean };

export interface StepsOptions {
  /** what the steps belong to, first on every line and before the bar ('fio', 'storage', 'wal') */
  title: string;
  total: number;
  stream?: ProgressStream;
  /** milliseconds, for the elapsed time and the ETA (Date.now by default) */
  now?: () => number;
}

export interface Steps {
  /** the step `label` starts (the bar shows it) */
  begin: (label: string) => void;
  /** how far the step under way is (ops so far, the figures measured so far): on the bar only */
  detail: (text: string) => void;
  /** the step under way ended with `result`: its line, and the count moves on */
  end: (result: string) => void;
  /** a line of its own (a note, a child's output), above the bar on a terminal */
  log: (line: string) => void;
  stop: () => void;
}

/** A time in seconds as cli-progress shows it on its bars ('42s', '3m05s', '1h02m'). */
export const formatSeconds = (seconds: number): string =>
  cliProgress().Format.TimeFormat(Math.round(seconds), { autopaddingChar: '0' } as CliProgress.Options, 1);

/**
 * Seconds left once `done` of `total` steps took `elapsedMs` and the step under way has run `currentMs`:
 * the mean step so far times the steps left, less what the current one has already run. Undefined before
 * the first step ended.
 */
export function etaSeconds(done: number, total: number, elapsedMs: number, currentMs = 0): number | undefined {
  if (done === 0) return undefined;
  return Math.max(0, ((elapsedMs / done) * (total - done) - currentMs) / 1000);
}

const formatEta = (seconds: number | undefined) => (seconds === undefined ? '?' : formatSeconds(seconds));

/** How often the bar's elapsed time and ETA move while a step runs. */
const BAR_TICK_MS = 1000;

export function steps(options: StepsOptions): Steps {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  const { title, total } = options;
  const start = now();
  let done = 0;
  let label = '';
  let detail = '';
  let endedAt = start;
  const elapsed = () => formatSeconds((now() - start) / 1000);
  const line = (result: string) =>
    `${title} ${String(done).padStart(String(total).length)}/${total}, ${elapsed()} elapsed, ETA ${formatEta(etaSeconds(done, total, now() - start))}: ${label}  ${result}`;

  if (!stream.isTTY) {
    return {
      begin: (next) => {
        label = next;
      },
      detail: () => undefined,
      end: (result) => {
        done++;
        stream.write(`${line(result)}\n`);
      },
      log: (text) => stream.write(`${text}\n`),
      stop: () => undefined,
    };
  }

  const bars = new (cliProgress().MultiBar)(
    { stream, format: `${title} {bar} {value}/{total} | {spent} elapsed | ETA {left} | {label}`, clearOnComplete: true, hideCursor: true },
    cliProgress().Presets.shades_classic,
  );
  const payload = () => ({
    label: detail === '' ? label : `${label}  ${detail}`,
    spent: elapsed(),
    left: formatEta(etaSeconds(done, total, endedAt - start, now() - endedAt)),
  });
  const bar = bars.create(total, 0, payload());
  // the step under way can be long: the elapsed time and the ETA move on between its start and its end
  const ticker = setInterval(() => bar.update(payload()), BAR_TICK_MS);
  ticker.unref();
  return {
    begin: (next) => {
      label = next;
      detail = '';
      bar.update(payload());
    },
    detail: (text) => {
      detail = text;
      bar.update(payload());
    },
    end: (result) => {
      done++;
      detail = '';
      endedAt = now();
      bars.log(`${line(result)}\n`);
      bar.update(done, payload());
    },
    log: (text) => {
      bars.log(`${text}\n`);
      bar.update(payload());
    },
    stop: () => {
      clearInterval(ticker);
      // the lines logged since the last redraw, then the bar cleared
      bars.update();
      bars.stop();
    },
  };
}
