// abstract-level's own test suite (every test it has for the features the manifest declares) against
// PersistLevel: once as configured by default, and once with a tiny memtable and tiny blocks so that the data
// of most tests is read from SSTs (flushed, compacted) rather than from the memtable.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import test from 'tape';

import { PersistLevel, type PersistLevelOptions } from '../../src/level/persist-level.js';

type Factory = (options?: PersistLevelOptions<unknown, unknown>) => unknown;
const require = createRequire(import.meta.url);
const suite = require('abstract-level/test') as (options: { test: typeof test; factory: Factory }) => void;

// Every database gets a location of its own (not yet created: createIfMissing makes it) under one parent,
// removed when the process exits, whether the tests passed or not.
const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'persist-level-suite-'));
process.on('exit', () => fs.rmSync(parent, { recursive: true, force: true, maxRetries: 5 }));
let databases = 0;

function factoryWith(lsm: PersistLevelOptions<unknown, unknown>['lsm']): Factory {
  return (options = {}) => new PersistLevel(path.join(parent, String(++databases)), { ...options, lsm: { ...lsm, ...options.lsm } });
}

suite({ test, factory: factoryWith({}) });
suite({ test, factory: factoryWith({ memtableSize: 64, blockSize: 64, l0CompactionTrigger: 2 }) });
