// README's code examples run as written: each ```ts block that imports from 'persistfs' is run as an ES
// module against the built package, with its paths ('/var/lib/obs', './data/...') pointed at a new
// temporary directory. A failing example fails here, naming its first line.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import test from 'tape';

import { tempDir } from '../helpers.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const library = pathToFileURL(path.join(repo, 'dist', 'src', 'index.js')).href;

/** The ```ts blocks of README.md that import from 'persistfs'. */
function examples(): string[] {
  const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
  return [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!).filter((code) => code.includes("from 'persistfs'"));
}

/** What each example prints, as its comments say, by a word of its import line. */
const PRINTS: Array<[string, RegExp]> = [
  ['Mode', /^0 4096 12288$/],
  ['Wal', /^\{ segment: 1, offset: \d+ \} first\n\{ segment: 1, offset: \d+ \} second$/],
  ['LsmStore', /^v2\nv1\nk v2 \d+\na 1 \d+\n\{ age: 31 \}$/],
];

test('README: the storage, WAL and LSM examples run as written', (t) => {
  const blocks = examples();
  t.ok(blocks.length >= 3, `${blocks.length} examples found`);
  for (const code of blocks) {
    const dir = tempDir(t);
    fs.mkdirSync(path.join(dir, 'obs')); // the examples open an existing directory
    const runnable = code
      .replaceAll("from 'persistfs'", `from '${library}'`)
      .replaceAll("'/var/lib/obs'", JSON.stringify(path.join(dir, 'obs')))
      .replaceAll("'./data/", `'${dir}/`);
    const file = path.join(dir, 'example.mjs');
    fs.writeFileSync(file, runnable);
    const run = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PERSISTFS_LOG_LEVEL: 'warn' } });
    const first = code.split('\n')[0];
    t.equal(run.status, 0, `${first}: runs${run.status === 0 ? '' : `\n${run.stderr}`}`);
    const expected = PRINTS.find(([word]) => first!.includes(` ${word}`))?.[1];
    t.ok(expected?.test(run.stdout.trim()), `${first}: prints what its comments say (${run.stdout.trim().split('\n').join(' | ')})`);
  }
  t.end();
});
