// The remote section's workloads, as a user's shell runs them on a mount: dd, a loop of small writes, cat,
// ls -l. Each is timed by the shell around the command (wall clock, no process start of ours in it), and
// what is written is also followed into the bucket (HeadObject, ListObjectsV2) to time when it is there.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';

import { CreateBucketCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

import { MiB } from './data-files.js';
import type { S3Endpoint } from './remote-ceph.js';

export interface RemoteSettings {
  rounds: number;
  /** the sequential write's and the cold read's size */
  bigBytes: number;
  smallFiles: number;
  smallBytes: number;
  /** objects in the directory `ls -l` lists */
  listObjects: number;
}

export const REMOTE_FULL: RemoteSettings = { rounds: 3, bigBytes: 64 * MiB, smallFiles: 1000, smallBytes: 4096, listObjects: 10_000 };
export const REMOTE_QUICK: RemoteSettings = { rounds: 1, bigBytes: 16 * MiB, smallFiles: 100, smallBytes: 4096, listObjects: 1000 };

/** What one turn measured: seconds per metric (metrics a peer does not run are absent). */
export type TurnFigures = Partial<Record<RemoteMetricId, number>>;

export type RemoteMetricId =
  | 'seq-write'
  | 'seq-write-uploaded'
  | 'cold-read'
  | 'warm-read'
  | 'small-write'
  | 'small-write-uploaded'
  | 'small-read'
  | 'ls-cold'
  | 'ls-warm';

/** Paths inside every mount (below MOUNT_PREFIX in the bucket) */
export const FIXED_DIR = 'fixed';
export const COLD_FILE = `${FIXED_DIR}/cold.bin`;
export const LIST_DIR = `${FIXED_DIR}/list`;
const roundDir = (round: number) => `r${round + 1}`;

/** How long an upload may take to show in the bucket before the turn fails. */
const UPLOAD_TIMEOUT_MS = 600_000;
/** HEADs every 50 ms, listings (up to 1,000 keys) every 100 ms: the polls share the gateway with the uploads */
const HEAD_POLL_MS = 50;
const LIST_POLL_MS = 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** wall clock in seconds, comparable with bash's $EPOCHREALTIME */
const nowSeconds = () => (performance.timeOrigin + performance.now()) / 1000;

export function s3Client(s3: S3Endpoint): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    // radosgw 16 breaks streamed PUT bodies with the SDK's default checksums
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function createBucket(client: S3Client, bucket: string): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
}

/** PUTs `body` under every key, `concurrency` at a time. */
export async function putObjects(client: S3Client, bucket: string, keys: readonly string[], body: Buffer, concurrency = 32): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++]!;
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function objectSize(client: S3Client, bucket: string, key: string): Promise<number | undefined> {
  try {
    return (await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength;
  } catch (error) {
    if ((error as { name?: string }).name === 'NotFound' || (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
      return undefined;
    throw error;
  }
}

/** Objects under `prefix` of exactly `size` bytes. */
async function countObjects(client: S3Client, bucket: string, prefix: string, size: number): Promise<number> {
  let count = 0;
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    count += (page.Contents ?? []).filter((entry) => entry.Size === size).length;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return count;
}

/** Polls until `done()`; resolves with the wall-clock time (s) it first was. */
async function whenTrue(what: string, pollMs: number, done: () => Promise<boolean>): Promise<number> {
  const deadline = Date.now() + UPLOAD_TIMEOUT_MS;
  for (;;) {
    if (await done()) return nowSeconds();
    if (Date.now() > deadline) throw new Error(`${what}: not in the bucket after ${UPLOAD_TIMEOUT_MS / 1000} s`);
    await sleep(pollMs);
  }
}

interface Timed {
  /** wall clock (s) when the command started */
  start: number;
  seconds: number;
}

/**
 * Runs `command` with bash in `cwd` and times it there, from just before to just after (after `setup`,
 * which is not timed). The command's own output must be redirected by the command; failures throw.
 * Asynchronous, so the mount processes' stderr keeps being drained while it runs.
 */
export function timedShell(cwd: string, command: string, setup = ':'): Promise<Timed> {
  const script = `set -euo pipefail; ${setup}; s=$EPOCHREALTIME; ${command}; e=$EPOCHREALTIME; echo "$s $e"`;
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const times = stdout.trim().split('\n').at(-1)?.split(' ').map(Number);
      if (code !== 0 || times?.length !== 2 || times.some(Number.isNaN)) {
        reject(new Error(`'${command}' in ${cwd} failed (${signal ?? code}): ${stderr.trim()}`));
        return;
      }
      resolve({ start: times[0]!, seconds: times[1]! - times[0]! });
    });
  });
}

/** Where a turn runs and what it needs. */
export interface TurnContext {
  settings: RemoteSettings;
  round: number;
  mnt: string;
  /** the local file dd copies (bigBytes of random data) */
  sourceFile: string;
  /** a local scratch file for ls -l's output */
  scratchFile: string;
  client: S3Client;
  bucket: string;
  /** the bucket key of the mount's root ('bench/') */
  prefix: string;
  /** writes progress text */
  progress(text: string): void;
}

const figure = (seconds: number) => `${seconds.toFixed(2)} s`;

/** ls -l of LIST_DIR into the scratch file; checks that it listed every object. */
async function listDirectory(context: TurnContext): Promise<number> {
  const { seconds } = await timedShell(context.mnt, `ls -l ${LIST_DIR} > ${context.scratchFile}`);
  const files = (await readFile(context.scratchFile, 'utf8')).split('\n').filter((line) => line.startsWith('-')).length;
  if (files !== context.settings.listObjects) throw new Error(`ls -l ${LIST_DIR} listed ${files} files, not ${context.settings.listObjects}`);
  return seconds;
}

/**
 * One S3 peer's turn on its fresh mount, each figure put in `figures` as soon as it is measured (a failure
 * halfway keeps those before it): ls -l cold then warm, the cold object read twice, the sequential
 * write and its upload, the small files written, uploaded and read back. In that order: ls first, so that
 * it is the first thing after the mount, and every upload awaited before the next workload starts.
 */
export async function remoteTurn(context: TurnContext, figures: TurnFigures): Promise<void> {
  const { settings, mnt, client, bucket } = context;
  const note = (id: RemoteMetricId, seconds: number) => {
    figures[id] = seconds;
    context.progress(`${id} ${figure(seconds)}  `);
  };
  note('ls-cold', await listDirectory(context));
  note('ls-warm', await listDirectory(context));
  note('cold-read', (await timedShell(mnt, `cat ${COLD_FILE} > /dev/null`)).seconds);
  note('warm-read', (await timedShell(mnt, `cat ${COLD_FILE} > /dev/null`)).seconds);

  const dir = roundDir(context.round);
  await timedShell(mnt, `mkdir -p ${dir}/small`);
  const big = await timedShell(mnt, `dd if=${context.sourceFile} of=${dir}/seq.bin bs=1M conv=fsync status=none`);
  note('seq-write', big.seconds);
  const bigKey = `${context.prefix}${dir}/seq.bin`;
  const bigThere = await whenTrue(bigKey, HEAD_POLL_MS, async () => (await objectSize(client, bucket, bigKey)) === settings.bigBytes);
  note('seq-write-uploaded', bigThere - big.start);

  // printf is a bash builtin: the loop is small writes, not process starts; the data is text (no NULs in a variable)
  const setup = `data=$(head -c ${(settings.smallBytes / 4) * 3} /dev/urandom | base64 -w0)`;
  const small = await timedShell(`${mnt}/${dir}/small`, `for i in $(seq 1 ${settings.smallFiles}); do printf '%s' "$data" > f$i; done`, setup);
  note('small-write', small.seconds);
  const smallPrefix = `${context.prefix}${dir}/small/`;
  const smallThere = await whenTrue(
    smallPrefix,
    LIST_POLL_MS,
    async () => (await countObjects(client, bucket, smallPrefix, settings.smallBytes)) === settings.smallFiles,
  );
  note('small-write-uploaded', smallThere - small.start);
  note('small-read', (await timedShell(mnt, `cat ${dir}/small/* > /dev/null`)).seconds);
}

/** The local mount's turn: the same file read twice (the backing file is in the page cache both times). */
export async function localTurn(context: Pick<TurnContext, 'mnt' | 'progress'>, figures: TurnFigures): Promise<void> {
  figures['cold-read'] = (await timedShell(context.mnt, `cat ${COLD_FILE} > /dev/null`)).seconds;
  figures['warm-read'] = (await timedShell(context.mnt, `cat ${COLD_FILE} > /dev/null`)).seconds;
  context.progress(`cold-read ${figure(figures['cold-read'])}  warm-read ${figure(figures['warm-read'])}  `);
}
