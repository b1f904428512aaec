// The WAL's archive of sealed segments: every sealed segment is copied whole (the open one is not), a
// checkpoint never deletes a segment the archive lacks, and a log reopened after a crash catches up. The
// archive is a directory on the memory adapter here, and on S3 (a real Ceph radosgw) in the last test.
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import test from 'tape';

import { openStorage, Wal } from '../../src/index.js';
import { segmentName } from '../../src/wal/format.js';
import { DirSegmentStore } from '../../src/wal/segment-store.js';
import { BACKENDS, freshStorage, rejection } from '../helpers.js';
import { ceph, freshPrefix } from '../remote/ceph.js';

const LOCAL = BACKENDS[0]!;
const MEMORY = BACKENDS.find((backend) => backend.name === 'memory')!;
const SEGMENT = 4096;

async function logAndArchive(t: test.Test) {
  const { storage } = await freshStorage(t, LOCAL);
  const walDir = await storage.root.createDirectory('wal');
  const archiveStorage = (await freshStorage(t, MEMORY)).storage;
  return { storage, store: new DirSegmentStore(walDir), archiveStorage, archive: archiveStorage.root };
}

const record = (n: number): Buffer => Buffer.alloc(700, n % 256);

test('WAL archive: every sealed segment is copied whole; the open one is not', async (t) => {
  const { store, archive } = await logAndArchive(t);
  const wal = await Wal.open(store, { segmentSize: SEGMENT, archive });
  for (let n = 0; n < 30; n++) await wal.append(record(n));
  // the open segment (the one after it may be there already, made ahead)
  const current = wal.end.segment;
  await wal.sync(); // the segment rotated away from last is sealed (and queued for its copy) in the background
  await wal.archive!.idle();
  const archived = (await archive.read()).map((entry) => entry.name).sort();
  t.deepEqual(
    archived,
    Array.from({ length: current - 1 }, (_, i) => segmentName(i + 1)),
    `segments 1-${current - 1} archived, not the open segment ${current}`,
  );
  let same = 0;
  for (let n = 1; n < current; n++) {
    const original = await store.open(n);
    const bytes = await original.readAt(0, original.size());
    await original.close();
    if (bytes.equals(await archive.readFile(segmentName(n)))) same++;
  }
  t.equal(same, current - 1, 'each copy is byte for byte the segment');
  await wal.close();
});

test('WAL archive: truncateBefore deletes nothing the archive lacks', async (t) => {
  const { store, archive, archiveStorage } = await logAndArchive(t);
  const wal = await Wal.open(store, { segmentSize: SEGMENT, archive });
  let last = await wal.append(record(0));
  for (let n = 1; n < 20; n++) last = await wal.append(record(n));
  await wal.archive!.idle();
  await archiveStorage.close(); // the archive goes away: copies now fail
  for (let n = 0; n < 20; n++) last = await wal.append(record(n));
  const before = await store.list();
  await rejection(t, wal.truncateBefore(last), 'EBADF', 'a checkpoint whose segments cannot be archived');
  t.deepEqual(await store.list(), before, 'every segment is still in the log');
  await wal.close().catch(() => undefined);
});

test('WAL archive: a log reopened after a crash copies the sealed segments the archive lacks', async (t) => {
  const { store, archive } = await logAndArchive(t);
  const unarchived = await Wal.open(store, { segmentSize: SEGMENT });
  for (let n = 0; n < 25; n++) await unarchived.append(record(n));
  await unarchived.close();
  const sealed = (await store.list()).slice(0, -1);
  const wal = await Wal.open(store, { segmentSize: SEGMENT, archive });
  await wal.archive!.idle();
  t.deepEqual((await archive.read()).map((entry) => entry.name).sort(), sealed.map(segmentName), 'the sealed segments are in the archive');
  await wal.close();
});

test('WAL archive on S3: sealed segments become objects; a checkpoint then frees the local disk', async (t) => {
  const cluster = await ceph();
  const prefix = freshPrefix('wal');
  const remote = await openStorage(`s3://${cluster.bucket}/${prefix}`, { adapter: 's3', s3: cluster.options(prefix), config: { logLevel: 'warn' } });
  t.teardown(() => remote.close());
  const { store } = await logAndArchive(t);
  const wal = await Wal.open(store, { segmentSize: SEGMENT, archive: remote.root });
  let last = await wal.append(record(0));
  for (let n = 1; n < 30; n++) last = await wal.append(record(n));
  const removed = await wal.truncateBefore(last);
  t.ok(removed > 0, `truncateBefore removed ${removed} local segments`);
  const client = cluster.client();
  t.teardown(() => client.destroy());
  const listed = await client.send(new ListObjectsV2Command({ Bucket: cluster.bucket, Prefix: prefix }));
  const names = (listed.Contents ?? []).map((item) => item.Key!.slice(prefix.length));
  t.ok(
    Array.from({ length: removed }, (_, i) => segmentName(i + 1)).every((name) => names.includes(name)),
    'every removed segment is an object in the bucket',
  );
  const first = await client.send(new GetObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}${segmentName(1)}` }));
  t.equal((await first.Body!.transformToByteArray()).length <= SEGMENT, true, 'a whole segment per object');
  await wal.close();
});
