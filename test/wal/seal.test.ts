// The WAL's records sealed a run at a time (one call into the addon) against the same records checksummed
// one by one with @node-rs/crc32, and the addon's CRC32C, with and without the CPU's CRC instruction.
import { crc32c } from '@node-rs/crc32';
import test from 'tape';

import { native } from '../../src/io/native.js';
import { encodeRecord, encodeRecordUnsealed, RECORD_HEADER_SIZE, sealRecords } from '../../src/wal/format.js';
import { record } from './wal-helpers.js';

test('the addon CRC32C equals @node-rs/crc32, from any seed, hardware and portable', (t) => {
  const bytes = Buffer.alloc(300);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 151 + 7) & 0xff;
  let mismatches = 0;
  for (const seed of [0, 1, 7, 0x7fffffff, 0xffffffff, 123456789]) {
    for (let length = 0; length <= 70; length++) {
      for (const start of [0, 1, 3, 8]) {
        const range = bytes.subarray(start, start + length);
        const expected = crc32c(range, seed);
        if (native.crc32c(range, seed) !== expected || native.crc32c(range, seed, true) !== expected) mismatches++;
      }
    }
  }
  t.equal(mismatches, 0, 'every length 0..70 at four alignments, six seeds');
  t.end();
});

test('sealRecords gives a run of staged records the CRCs encodeRecord gives each one', (t) => {
  const sizes = [0, 1, 7, 8, 9, 100, 1024, 3, 0, 555];
  const total = sizes.reduce((sum, size) => sum + RECORD_HEADER_SIZE + size, 0);
  for (const seed of [0, 42, 0xfffffffe]) {
    const expected = Buffer.alloc(total + 16);
    const staged = Buffer.alloc(total + 16, 0xee);
    let at = 8;
    sizes.forEach((size, i) => {
      const payload = record(i, size);
      encodeRecord(expected, at, 1 + (i % 5), payload, true, seed);
      encodeRecordUnsealed(staged, at, 1 + (i % 5), size);
      staged.set(payload, at + RECORD_HEADER_SIZE);
      at += RECORD_HEADER_SIZE + size;
    });
    sealRecords(staged, 8, at, seed);
    t.ok(staged.subarray(8, at).equals(expected.subarray(8, at)), `the same bytes, seed ${seed}`);
    t.ok(
      staged.subarray(0, 8).equals(Buffer.alloc(8, 0xee)) && staged.subarray(at).equals(Buffer.alloc(staged.length - at, 0xee)),
      'nothing outside the run is touched',
    );
  }
  const bad = Buffer.alloc(40);
  encodeRecordUnsealed(bad, 0, 1, 20);
  encodeRecordUnsealed(bad, 29, 1, 5);
  t.throws(() => sealRecords(bad, 0, 40, 0), RangeError, 'a record whose length runs past the end of the run is refused');
  t.throws(() => native.crc32cRecords(bad, 0, 41, 0), RangeError, 'so is a range past the buffer');
  t.end();
});
