// Progress on stderr for the commands that take a while (check, backup, restore): a bar with the ETA on a
// terminal (cli-progress), else a plain line at most every PLAIN_EVERY_MS. With `bytes`, the amounts are
// bytes and the bar and lines show how many of how many and the rate. `stop` ends it (clears the bar).
import cliProgress from 'cli-progress';

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
    const bar = new cliProgress.SingleBar({ stream: process.stderr, format, clearOnComplete: true, hideCursor: true }, cliProgress.Presets.shades_classic);
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
