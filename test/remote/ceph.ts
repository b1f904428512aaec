// A real S3 endpoint for the tests: a single-node Ceph radosgw (scripts/ceph-s3.sh), started on first use in
// a test process and stopped when the process's tests end, when it exits (also with a test that never ended),
// or when it is stopped by SIGTERM or SIGINT (the test runner's timeout: Ceph's daemons run in sessions of
// their own, out of reach of a signal to the test's process group), so nothing is left running.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import test from 'tape';

import type { ObjectStore } from '../../src/adapters/s3/object-store.js';
import type { S3Options } from '../../src/adapters/s3/s3-settings.js';

const SCRIPT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../scripts/ceph-s3.sh');

export interface Ceph {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** a bucket made for this test process */
  bucket: string;
  /** the S3 options reaching that bucket under `prefix` */
  options(prefix?: string): S3Options;
  /** an SDK client of its own, for looking behind the adapter's back */
  client(): S3Client;
  /** stops radosgw alone (S3 goes away, the data stays): SIGTERM, or SIGKILL with `kill` */
  stopGateway(kill?: boolean): void;
  startGateway(): void;
}

let running: Promise<Ceph> | undefined;

function stop(): void {
  if (running === undefined) return;
  running = undefined;
  process.off('SIGINT', interrupted);
  process.off('SIGTERM', interrupted);
  execFileSync(SCRIPT, ['down'], { stdio: 'ignore' });
}

/** A signal that would end the process before its 'exit' handlers: Ceph stopped first, then the signal's own end. */
function interrupted(signal: NodeJS.Signals): void {
  try {
    stop();
  } finally {
    process.kill(process.pid, signal);
  }
}

/** The running cluster, started on the first call (a few seconds). */
export function ceph(): Promise<Ceph> {
  running ??= start();
  return running;
}

async function start(): Promise<Ceph> {
  test.onFinish(stop);
  // before tape's own 'exit' listener, which removes every other and exits when a test never ended
  process.prependOnceListener('exit', stop);
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const [endpoint, accessKeyId, secretAccessKey] = execFileSync(SCRIPT, ['up'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    .trim()
    .split(' ') as [string, string, string];
  const bucket = `persistfs-${randomBytes(4).toString('hex')}`;
  const credentials = { accessKeyId, secretAccessKey };
  const client = () =>
    new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  const admin = client();
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  admin.destroy();
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    bucket,
    options: (prefix = '') => ({ endpoint, region: 'us-east-1', bucket, prefix, credentials }),
    client,
    stopGateway: (kill = false) => execFileSync(SCRIPT, ['rgw-stop', kill ? 'KILL' : 'TERM'], { stdio: 'inherit' }),
    startGateway: () => execFileSync(SCRIPT, ['rgw-start'], { stdio: 'inherit' }),
  };
}

let serial = 0;

/** A key prefix no other test of this process uses. */
export function freshPrefix(label = 't'): string {
  serial++;
  return `${label}-${serial}-${randomBytes(3).toString('hex')}/`;
}

/** The bytes of object `key`, read with a client of our own; undefined when there is no such object. */
export async function objectBytes(client: S3Client, bucket: string, key: string): Promise<Buffer | undefined> {
  try {
    const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await answer.Body!.transformToByteArray());
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
    throw error;
  }
}

/** The names of the commands `store` sends through the SDK from now on ('HeadObjectCommand', ...), in order; its direct requests are not among them. */
export function sdkCommandsSent(store: ObjectStore): string[] {
  const sent: string[] = [];
  store.client.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push(context.commandName ?? '');
      return next(args);
    },
    { step: 'initialize', name: `sdkCommandsSent${Math.random()}` },
  );
  return sent;
}

/** S3 commands a client sent, by name ('GetObject', 'HeadObject', ...), and how many of each were in flight at most. */
export interface CommandCounts {
  sent: Map<string, number>;
  inFlight: Map<string, number>;
  maxInFlight: Map<string, number>;
  /** resolves once no command is in flight */
  settled(): Promise<void>;
}

/**
 * Counts the commands `store` sends from now on (a middleware of its own on its client), its HEADs sent
 * without the SDK (direct-head.ts) as HeadObject.
 */
export function countCommands(store: ObjectStore): CommandCounts {
  const client = store.client;
  const counts: CommandCounts = {
    sent: new Map(),
    inFlight: new Map(),
    maxInFlight: new Map(),
    settled: async () => {
      while ([...counts.inFlight.values()].some((n) => n > 0)) await new Promise((resolve) => setTimeout(resolve, 10));
    },
  };
  const add = (map: Map<string, number>, name: string, n: number) => map.set(name, (map.get(name) ?? 0) + n);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = (context.commandName ?? 'unknown').replace(/Command$/, '');
      add(counts.sent, name, 1);
      add(counts.inFlight, name, 1);
      counts.maxInFlight.set(name, Math.max(counts.maxInFlight.get(name) ?? 0, counts.inFlight.get(name)!));
      try {
        return await next(args);
      } finally {
        add(counts.inFlight, name, -1);
      }
    },
    { step: 'initialize', name: `countCommands${Math.random()}` },
  );
  store.onDirectHead = () => add(counts.sent, 'HeadObject', 1);
  store.onDirectCall = (command) => add(counts.sent, command, 1);
  // a request sent without the SDK counts as the SDK's command would, from when it is sent to when it ended
  const phases = (name: string) => (phase: 'sent' | 'ended') => {
    if (phase === 'ended') {
      add(counts.inFlight, name, -1);
      return;
    }
    add(counts.sent, name, 1);
    add(counts.inFlight, name, 1);
    counts.maxInFlight.set(name, Math.max(counts.maxInFlight.get(name) ?? 0, counts.inFlight.get(name)!));
  };
  // ranged GETs (the block cache's fetches); PUTs of content in memory (a file uploaded whole, a directory's marker)
  const gets = phases('GetObject');
  const puts = phases('PutObject');
  store.onDirectRange = (_key, phase) => gets(phase);
  store.onDirectPut = (_key, phase) => puts(phase);
  return counts;
}
