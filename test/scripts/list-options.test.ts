// Array options given without a value (scripts/list-options.ts): yargs would hand back their defaults, so
// `fio.js --kernel-variants` ran every variant (one switches the fuse module's enable_uring on). The
// scripts refuse such a command line before doing anything.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import test from 'tape';

import { listsGivenEmpty } from '../../scripts/list-options.js';

const SCRIPTS = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../scripts');

test('listsGivenEmpty: an option followed by nothing or by another option, or with an empty =', (t) => {
  const names = ['kernel-variants', 'only', 'mount-arg'];
  t.deepEqual(listsGivenEmpty(['--kernel-variants'], names), ['kernel-variants'], 'at the end');
  t.deepEqual(listsGivenEmpty(['--kernel-variants', '--rounds', '3'], names), ['kernel-variants'], 'before another option');
  t.deepEqual(listsGivenEmpty(['--only='], names), ['only'], 'with an empty =');
  t.deepEqual(listsGivenEmpty(['--kernel-variants', 'js', '--only', 'stat', 'create'], names), [], 'with values: nothing to refuse');
  t.deepEqual(listsGivenEmpty(['--mount-arg=--no-xattr'], names), [], 'a value that starts with - given with =');
  t.deepEqual(listsGivenEmpty(['--rounds', '3'], names), [], 'other options are not looked at');
  t.end();
});

for (const [script, option] of [
  ['fio.js', '--kernel-variants'],
  ['bench.js', '--lsm-peers'],
] as const) {
  test(`${script} ${option} without a value is a usage error, and nothing runs`, (t) => {
    // the guard's timeout only stops a run that started (the old behaviour): it measures nothing
    const run = spawnSync(process.execPath, [path.join(SCRIPTS, script), option, '--dir', '/dev/null/persistfs-never'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    t.notEqual(run.status, 0, `it exits with an error (status ${run.status}, signal ${run.signal})`);
    t.match(run.stderr, new RegExp(`${option} needs at least one value`), 'naming the option');
    t.end();
  });
}
