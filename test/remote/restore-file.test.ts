// One file of a restore without an object store: a blob's body, as an S3 GET gives it (64 KiB chunks),
// is written in few large writes and comes out byte for byte; a body that fails midway fails the file and
// leaves nothing of it, whatever write was under way.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import test from 'tape';

import type { ObjectStore } from '../../src/adapters/s3/object-store.js';
import { storageError } from '../../src/ground/errors.js';
import type { FileEntry } from '../../src/backup/manifest.js';
import { restoreFile } from '../../src/backup/restore-file.js';
import { tempDir } from '../helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A store whose every object is `content`, streamed in 64 KiB chunks; it fails after `failAfter` bytes when given. */
function storeOf(content: Buffer, failAfter?: number): ObjectStore {
  return {
    bucket: 'bucket',
    async *stream() {
      for (let at = 0; at < content.length; at += 64 * KiB) {
        if (failAfter !== undefined && at >= failAfter) throw storageError('EIO', 'the connection was reset');
        yield content.subarray(at, at + 64 * KiB);
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
  } as unknown as ObjectStore;
}

const entryOf = (content: Buffer): FileEntry => ({
  path: 'data.sst',
  kind: 'file',
  mode: 0o640,
  mtimeNs: '1700000000123456789',
  size: content.length,
  sha256: createHash('sha256').update(content).digest('hex'),
});

/** Counts the writes made through FileHandles (write and writev) while `work` runs. */
async function countingWrites(dir: string, work: () => Promise<void>): Promise<number> {
  const probe = await fs.promises.open(path.join(dir, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as Record<'write' | 'writev', (...args: unknown[]) => Promise<unknown>>;
  await probe.close();
  fs.rmSync(path.join(dir, 'probe'));
  const { write, writev } = proto;
  let writes = 0;
  proto.write = function (...args) {
    writes++;
    return write.apply(this, args);
  };
  proto.writev = function (...args) {
    writes++;
    return writev.apply(this, args);
  };
  try {
    await work();
  } finally {
    proto.write = write;
    proto.writev = writev;
  }
  return writes;
}

test('restore: a blob arriving in 64 KiB chunks is written in writes of 1 MiB or more, and comes out byte for byte', async (t) => {
  const dir = tempDir(t);
  const content = randomBytes(3 * MiB + 1000);
  const location = Buffer.from(path.join(dir, 'data.sst'));
  let heard = 0;
  const writes = await countingWrites(dir, () => restoreFile(storeOf(content), 'p/', entryOf(content), location, (bytes) => (heard += bytes)));
  t.ok(fs.readFileSync(location).equals(content), 'the file is the content');
  t.equal(heard, content.length, 'the progress heard of every byte');
  t.ok(writes <= 4, `${writes} writes for 3 MiB and a bit (one per 64 KiB chunk would be 50)`);
  t.equal(fs.statSync(location).mode & 0o777, 0o640, 'with its mode');
  t.deepEqual(
    fs.readdirSync(dir).filter((name) => name.startsWith('.persistfs-restore')),
    [],
    'and no temporary file left',
  );
  t.end();
});

test('restore: a body that fails midway fails the file (its error) and leaves nothing of it', async (t) => {
  const dir = tempDir(t);
  const content = randomBytes(3 * MiB);
  const location = Buffer.from(path.join(dir, 'data.sst'));
  try {
    await restoreFile(storeOf(content, 2 * MiB + 128 * KiB), 'p/', entryOf(content), location, () => undefined);
    t.fail('the restore of the file succeeded');
  } catch (error) {
    t.equal((error as { code?: string }).code, 'EIO', "fails with the body's error (EIO)");
  }
  t.deepEqual(fs.readdirSync(dir), [], 'nothing left: neither the file nor its temporary name');
  t.end();
});
