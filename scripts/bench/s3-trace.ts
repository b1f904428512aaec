// Counts the S3 requests of a process and the time they took, per command, for a look at where a mount's
// time goes (BENCHMARKS.md, The remote tier). Preloaded into a mount process:
//   S3_TRACE_FILE=/tmp/trace.json node --import ./dist/scripts/bench/s3-trace.js dist/mount/cli.js mount s3://...
// At exit it writes { command: { count, totalMs, maxMs } } to S3_TRACE_FILE (or stderr), with the wall
// time from the first request to the last answer. It wraps S3Client.prototype.send and DirectHead's head
// (HEADs sent without the SDK); nothing else changes.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import { S3Client } from '@aws-sdk/client-s3';

import { DirectHead } from '../../src/adapters/s3/direct-head.js';

interface CommandFigures {
  count: number;
  totalMs: number;
  maxMs: number;
}

const figures = new Map<string, CommandFigures>();
let first: number | undefined;
let last = 0;
let inFlight = 0;
let maxInFlight = 0;

/** Times `work` as a request named `name`. */
async function traced<T>(name: string, work: () => Promise<T>): Promise<T> {
  const start = performance.now();
  first ??= start;
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  try {
    return await work();
  } finally {
    inFlight--;
    const end = performance.now();
    last = Math.max(last, end);
    const entry = figures.get(name) ?? { count: 0, totalMs: 0, maxMs: 0 };
    entry.count++;
    entry.totalMs += end - start;
    entry.maxMs = Math.max(entry.maxMs, end - start);
    figures.set(name, entry);
  }
}

const send = S3Client.prototype.send as (this: S3Client, ...args: unknown[]) => Promise<unknown>;
S3Client.prototype.send = function tracedSend(this: S3Client, ...args: unknown[]): Promise<unknown> {
  return traced((args[0] as object).constructor.name.replace(/Command$/, ''), () => send.apply(this, args));
} as typeof S3Client.prototype.send;

// HEADs sent without the SDK (those it could not answer go on to the SDK's HeadObject, counted there too)
const directHead = DirectHead.prototype.head;
DirectHead.prototype.head = function tracedHead(this: DirectHead, key: string) {
  return traced('DirectHead', () => directHead.call(this, key));
};

process.once('exit', () => {
  const rounded = Object.fromEntries(
    [...figures].map(([name, entry]) => [name, { count: entry.count, totalMs: Math.round(entry.totalMs), maxMs: Math.round(entry.maxMs) }]),
  );
  const report = JSON.stringify({ wallMs: first === undefined ? 0 : Math.round(last - first), maxInFlight, commands: rounded }, null, 2);
  const file = process.env.S3_TRACE_FILE;
  if (file) writeFileSync(file, `${report}\n`);
  else process.stderr.write(`${report}\n`);
});
