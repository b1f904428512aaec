// A tiering directory (LsmOptions.tiering) belongs to one store. Two stores sharing one would number their
// tables over each other's and, at open, delete the other's SSTs as leftovers of a crash (recovery.ts,
// removeUnnamedTables). So a store has an id (STORE-ID in its directory, made at its first writable open
// with tiering) and its tiering directory names its owner (TIER-OWNER: the id, then the store's path for
// messages). A writable open with a tiering directory owned by another id is EBUSY and changes nothing; a
// directory without an owner (new, or tiered before owners were written) is claimed. A checkpoint has no
// STORE-ID of its own: opened with its source's tiering directory, it is refused too.
import { randomUUID } from 'node:crypto';

import type { Dir } from '../storage/dir.js';
import { storageError } from '../ground/errors.js';
import { STORE_ID_NAME, TIER_OWNER_NAME } from './file-names.js';

/** The first line of `name` in `dir`, or undefined when there is no such file. */
async function firstLine(dir: Dir, name: string): Promise<string | undefined> {
  const bytes = await dir.readFileIfExists(name);
  return bytes?.subarray(0, 1024).toString('utf8').split('\n')[0]?.trim();
}

/** Writes `text` to `name` in `dir` durably (the file, then the directory entry). */
async function writeDurably(dir: Dir, name: string, text: string): Promise<void> {
  await (await dir.flushWrite(name, Buffer.from(text))).close();
  await dir.sync();
}

/** The id of the store in `dir`, made (durably) if it has none yet. */
async function storeId(dir: Dir): Promise<string> {
  const id = (await firstLine(dir, STORE_ID_NAME))?.split(' ')[0];
  if (id) return id;
  const made = randomUUID();
  await writeDurably(dir, STORE_ID_NAME, `${made}\n`);
  return made;
}

/** Makes `tier` the tiering directory of the store in `dir`, or fails EBUSY when another store owns it. */
export async function claimTier(dir: Dir, tier: Dir): Promise<void> {
  const id = await storeId(dir);
  const owner = await firstLine(tier, TIER_OWNER_NAME);
  if (owner === undefined) return writeDurably(tier, TIER_OWNER_NAME, `${id} ${dir.path}\n`);
  const [ownerId, ...ownerPath] = owner.split(' ');
  if (ownerId === id) return;
  throw storageError(
    'EBUSY',
    `the tiering directory ${tier.path || '(its storage root)'} belongs to another LSM store (id ${ownerId}, at ${ownerPath.join(' ') || 'an unknown path'}): ` +
      "two stores in one tiering directory would delete each other's tables; give this store a tiering directory of its own",
    { path: dir.path },
  );
}
