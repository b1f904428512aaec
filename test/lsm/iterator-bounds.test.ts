// Both bounds of one side given (gt and gte, lt and lte): the iterator keeps the tighter one, the exclusive
// one when both name the same key, forward and reverse, from the memtable and from SSTs.
import { eachBackend, freshStorage } from '../helpers.js';
import { LsmStore } from '../../src/lsm/lsm-store.js';
import type { RangeOptions } from '../../src/lsm/types.js';

const CASES: Array<[string, RangeOptions, string[]]> = [
  ['gte tighter than gt', { gt: 'a', gte: 'c' }, ['c', 'd', 'e']],
  ['gt tighter than gte', { gt: 'c', gte: 'a' }, ['d', 'e']],
  ['gt and gte on one key', { gt: 'c', gte: 'c' }, ['d', 'e']],
  ['lte tighter than lt', { lt: 'd', lte: 'b' }, ['a', 'b']],
  ['lt tighter than lte', { lt: 'b', lte: 'd' }, ['a']],
  ['lt and lte on one key', { lt: 'c', lte: 'c' }, ['a', 'b']],
  ['both sides', { gt: 'a', gte: 'b', lt: 'e', lte: 'c' }, ['b', 'c']],
];

eachBackend('LSM iterator: of two bounds on one side the tighter applies', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const store = await LsmStore.open(await storage.createDirectory('db'), { autoCompact: false });
  try {
    await store.write(['a', 'b', 'c', 'd', 'e'].map((key) => ({ type: 'put' as const, key, value: key })));
    for (const where of ['memtable', 'SSTs']) {
      if (where === 'SSTs') await store.flush();
      for (const [name, range, expected] of CASES) {
        for (const reverse of [false, true]) {
          const keys: string[] = [];
          for await (const entry of store.iterator({ ...range, reverse })) keys.push(entry.key.toString());
          t.same(keys, reverse ? [...expected].reverse() : expected, `${name}${reverse ? ', reverse' : ''} (${where})`);
        }
      }
    }
  } finally {
    // before the storage (freshStorage's teardown closes it)
    await store.close();
  }
});
