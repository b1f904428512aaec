// The listing cache's bookkeeping on a fake object store (no Ceph): a change of ours reported while a
// listing is being read is in the listing kept; listings expire with the clock; a directory emptied by our
// deletions leaves its parent's listing; what a listing reload keeps of an entry's metadata.
import test from 'tape';

import { ListingCache } from '../../src/adapters/s3/listing-cache.js';
import type { ListPage, ObjectStore } from '../../src/adapters/s3/object-store.js';

/** A store that lists `keys` (with '/' as delimiter), one page per call of `release` when `gated`. */
function fakeStore(keys: Map<string, string>, gate?: Promise<void>): { store: ObjectStore; lists: () => number } {
  let lists = 0;
  const store = {
    async *list(prefix: string): AsyncGenerator<ListPage> {
      lists++;
      await gate;
      const page: ListPage = { objects: [], prefixes: [] };
      for (const [key, etag] of keys) {
        if (!key.startsWith(prefix)) continue;
        const rest = key.slice(prefix.length);
        const slash = rest.indexOf('/');
        if (slash >= 0 && slash < rest.length - 1) {
          const sub = `${prefix}${rest.slice(0, slash + 1)}`;
          if (!page.prefixes.includes(sub)) page.prefixes.push(sub);
        } else if (slash === rest.length - 1 && rest !== '') {
          if (!page.prefixes.includes(key)) page.prefixes.push(key);
        } else {
          page.objects.push({ key, size: 1, etag, lastModified: new Date(1000) });
        }
      }
      yield page;
    },
  };
  return { store: store as unknown as ObjectStore, lists: () => lists };
}

test('listing cache: a PUT of ours that lands while the listing is read is in the listing kept', async (t) => {
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const { store } = fakeStore(new Map([['d/old', '"1"']]), gate);
  const cache = new ListingCache(store, 60_000);
  const reading = cache.listing('d/');
  cache.stored('d/new', 3, '"2"', { mode: '33188' });
  cache.deleted('d/old');
  open();
  const listing = await reading;
  t.deepEqual([...listing.files.keys()], ['new'], 'the PUT is in, the deletion applied (the listing read before both)');
  t.equal(listing.files.get('new')?.own, true, 'and marked as our own version');
  t.equal(await cache.listing('d/'), listing, 'the listing is kept');
});

test('listing cache: listings expire with the cache time, negative answers with them; metadata stays while the ETag does', async (t) => {
  let now = 0;
  const keys = new Map([['d/a', '"1"']]);
  const { store, lists } = fakeStore(keys);
  const cache = new ListingCache(store, 1000, 4096, () => now);
  const first = await cache.listing('d/');
  cache.headed('d/a', { key: 'd/a', size: 1, etag: '"1"', lastModified: new Date(1000), metadata: { mode: '33152' } });
  keys.set('d/b', '"2"');
  now = 999;
  t.equal(await cache.listing('d/'), first, 'fresh until the cache time');
  t.notOk(first.files.has('b'), 'a name made elsewhere is not seen meanwhile');
  now = 1000;
  const second = await cache.listing('d/');
  t.equal(lists(), 2, 'read again once the cache time has passed');
  t.ok(second.files.has('b'), 'the name made elsewhere is seen');
  t.deepEqual(second.files.get('a')?.metadata, { mode: '33152' }, 'the metadata a HEAD brought stays with the same ETag');
  keys.set('d/a', '"3"');
  now = 2000;
  t.equal((await cache.listing('d/')).files.get('a')?.metadata, undefined, 'and goes with a new one');
});

test('listing cache: a directory emptied by our deletions is gone from its parent; one made here is known empty', async (t) => {
  const { store, lists } = fakeStore(new Map([['top/x/only', '"1"']]));
  const cache = new ListingCache(store, 60_000);
  t.deepEqual([...(await cache.listing('top/')).dirs], ['x'], 'x is a directory (keys under it, no marker)');
  await cache.listing('top/x/');
  cache.deleted('top/x/only');
  t.deepEqual([...(await cache.listing('top/')).dirs], [], 'its last key deleted, x is gone');
  cache.stored('top/y/', 0, '"m"', { mode: '16877' });
  cache.madeEmpty('top/y/');
  t.deepEqual([...(await cache.listing('top/')).dirs], ['y'], 'a directory made here is listed in its parent');
  t.equal((await cache.listing('top/y/')).empty, false, 'and has its marker');
  t.equal(lists(), 2, 'without reading either listing again');
  t.equal((await cache.marker('top/y/'))?.etag, '"m"', "its marker's head is kept");
});
