// Bloom filters: no false negatives, about 1% false positives at 10 bits a key, and in the store they
// keep point reads of absent keys away from the SSTs' data blocks.
import test from 'tape';

import { bloomMayContain, buildBloom, hashKey } from '../../src/lsm/bloom.js';
import { BACKENDS } from '../helpers.js';
import { lsmEnv } from './lsm-helpers.js';

test('a bloom filter holds every key it was built from, and few others', (t) => {
  const keys = Array.from({ length: 10000 }, (_, i) => `key-${i}`);
  const filter = buildBloom(keys.map(hashKey), 10);
  t.ok(
    keys.every((key) => bloomMayContain(filter, hashKey(key))),
    'no false negative among 10,000 keys',
  );
  let falsePositives = 0;
  for (let i = 0; i < 100000; i++) if (bloomMayContain(filter, hashKey(`absent-${i}`))) falsePositives++;
  t.ok(falsePositives < 2000, `false positives ${(falsePositives / 1000).toFixed(2)}% of 100,000 absent keys (expected ~1%)`);
  t.ok(falsePositives > 0, 'and not zero (the filter is not answering everything from somewhere else)');
  t.ok(bloomMayContain(Buffer.alloc(0), hashKey('x')), 'an empty filter (bloomBitsPerKey 0) lets everything through');
  t.end();
});

test("in the store, gets of absent keys inside the SSTs' ranges read no data block when filters are on", async (t) => {
  const blocksLoaded = async (bloomBitsPerKey: number): Promise<number> => {
    const env = await lsmEnv(t, BACKENDS[0]!);
    // blocks read by preadv2 are cached, so the cache counts them (mapped ones are not: mmapReads)
    const db = await env.open({ bloomBitsPerKey, blockCacheSize: 64 << 20, memtableSize: 64 << 20, mmapReads: false });
    // even keys in the SST (a few a block); the odd ones between them are absent but inside its key range
    await db.write(Array.from({ length: 2000 }, (_, i) => ({ type: 'put' as const, key: `k${String(i * 2).padStart(6, '0')}`, value: 'v'.repeat(1000) })));
    await db.flush();
    const before = db.stats().blockCacheBytes;
    let found = 0;
    for (let i = 0; i < 2000; i++) if ((await db.get(`k${String(i * 2 + 1).padStart(6, '0')}`)) !== undefined) found++;
    t.equal(found, 0, `bloom ${bloomBitsPerKey}: no absent key is found`);
    return db.stats().blockCacheBytes - before;
  };
  const withFilter = await blocksLoaded(10);
  const without = await blocksLoaded(0);
  t.ok(without > 0, `without filters the gets load data blocks (${without} bytes cached)`);
  t.ok(withFilter < without / 10, `with filters they load almost none (${withFilter} bytes: false positives only)`);
});
