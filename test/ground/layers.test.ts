// The floor plan (scripts/layers.ts): no file imports from a floor above its own, the storage reaches io
// only through its adapters, the mount does not load the barrel, and no files import each other in a
// cycle. Checked over this tree, and over a small made-up tree to show the check sees each kind of break.
import fs from 'node:fs';
import path from 'node:path';
import test from 'tape';

import { checkLayers, unplaced } from '../../scripts/layers.js';
import { tempDir } from '../helpers.js';

const repository = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');

test('floor plan: this tree has no upward import, no skipped floor, no cycle, and every file on a floor', (t) => {
  t.deepEqual(checkLayers(repository), [], 'no breaks (node dist/scripts/layers.js lists them)');
  t.deepEqual(unplaced(repository), [], 'every source file is on a floor');
  t.end();
});

test('floor plan: the check sees an upward import, a skipped floor, the barrel in the mount and a cycle', (t) => {
  const root = tempDir(t);
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), text);
  };
  write('src/io/engine.ts', "import { Dir } from '../storage/dir.js';\n");
  write('src/storage/dir.ts', "import type { Engine } from '../io/engine.js';\nimport { File } from './file.js';\n");
  write('src/storage/file.ts', "import { Dir } from './dir.js';\n");
  write('src/index.ts', "export { Dir } from './storage/dir.js';\n");
  write('mount/cli.ts', "import { Dir } from '../src/index.js';\nimport { StorageError } from '../src/ground/errors.js';\n");
  write('src/ground/errors.ts', 'export class StorageError extends Error {}\n');
  t.deepEqual(
    checkLayers(root).map(({ kind, what }) => `${kind}: ${what}`),
    [
      'cycle: src/io/engine.ts -> src/storage/dir.ts -> src/storage/file.ts',
      'skip: mount/cli.ts -> src/index.ts',
      'skip: src/storage/dir.ts -> src/io/engine.ts',
      'upward: src/io/engine.ts -> src/storage/dir.ts',
    ],
    'each break named',
  );
  t.end();
});
