// README's code examples run as written: each ```ts block is run as an ES module against the built
// package, with its paths ('/var/lib/obs', './data/...') pointed at a new temporary directory; a block that
// goes on from the storage API's example (it uses `storage` without an import) runs after that example's
// open and before its close. A failing example fails here, naming its first line.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import test from 'tape';

import { CreateBucketCommand } from '@aws-sdk/client-s3';

import { tempDir } from '../helpers.js';
import { ceph } from '../remote/ceph.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const library = pathToFileURL(path.join(repo, 'dist', 'src', 'index.js')).href;

/** What a block that uses `storage` without opening it runs in: the storage API example's open and close. */
const OPEN = "import { openStorage } from 'persistfs';\nconst storage = await openStorage('/var/lib/obs');\n";
const CLOSE = '\nawait storage.close();\n';

/** The READMEs beside the code whose examples import from 'persistfs' (their other blocks are fragments). */
const BESIDE = ['src/datastore/README.md', 'src/level/README.md'];

/** The ```ts blocks of README.md and those of BESIDE that import from 'persistfs', each as it runs. */
function examples(): string[] {
  const blocks = (file: string) => [...fs.readFileSync(path.join(repo, file), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map(({ 1: code }) => code!);
  const readme = blocks('README.md').map((code) => (code.includes("from 'persistfs'") ? code : `${OPEN}${code}${CLOSE}`));
  return [...readme, ...BESIDE.flatMap((file) => blocks(file).filter((code) => code.includes("from 'persistfs'")))];
}

/** What each example prints, as its comments say, by a part of its first line. */
const PRINTS: Array<[string, RegExp]> = [
  [' Mode }', /^0 4096 12288$/],
  [' Wal, DirSegmentStore }', /^\{ segment: 1, offset: \d+ \} first\n\{ segment: 1, offset: \d+ \} second$/],
  [' LsmStore, LsmDatastore, PersistLevel }', /^v2\nv1\nk v2 \d+\na 1 \d+\n\{ age: 31 \}$/],
  ['.createFile(Buffer', /^726177ff$/], // names as bytes: 'raw\xff' listed as its bytes
  [' FlatfsDatastore,', /^\/blocks\/CIQA1 5$/], // src/datastore/README.md
  ['{ PersistLevel }', /^\{ age: 31 \}\nbob \{ age: 27 \}\nalice \{ age: 31 \}\n\{ age: 31 \}$/], // src/level/README.md
];

test('README: the storage, WAL, LSM and remote-tier examples, and those of the datastore and level READMEs, run as written', async (t) => {
  const blocks = examples();
  t.ok(blocks.length >= 7, `${blocks.length} examples found`);
  for (const code of blocks) {
    const dir = tempDir(t);
    fs.mkdirSync(path.join(dir, 'obs')); // the examples open an existing directory
    const env: NodeJS.ProcessEnv = { ...process.env, PERSISTFS_LOG_LEVEL: 'warn' };
    let endpoint = 'http://127.0.0.1:7480';
    if (code.includes('s3://obs/')) {
      // the remote tier's example runs against a real radosgw, on a bucket 'obs' made for it
      const cluster = await ceph();
      const client = cluster.client();
      await client.send(new CreateBucketCommand({ Bucket: 'obs' })).catch((error: { name?: string }) => {
        if (error.name !== 'BucketAlreadyOwnedByYou') throw error;
      });
      client.destroy();
      Object.assign(env, { AWS_ACCESS_KEY_ID: cluster.accessKeyId, AWS_SECRET_ACCESS_KEY: cluster.secretAccessKey });
      endpoint = cluster.endpoint;
      fs.mkdirSync(path.join(dir, 'cache'));
    }
    const runnable = code
      .replaceAll("'http://127.0.0.1:7480'", JSON.stringify(endpoint))
      .replaceAll("from 'persistfs'", `from '${library}'`)
      .replaceAll("'/var/lib/obs'", JSON.stringify(path.join(dir, 'obs')))
      .replaceAll("'./data/", `'${dir}/`);
    const file = path.join(dir, 'example.mjs');
    fs.writeFileSync(file, runnable);
    const run = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000, env });
    const first = code.replace(OPEN, '').split('\n')[0];
    t.equal(run.status, 0, `${first}: runs${run.status === 0 ? '' : `\n${run.stderr}`}`);
    const expected = code.includes('s3://obs/') ? /^hello$/ : PRINTS.find(([word]) => first!.includes(word))?.[1];
    t.ok(expected?.test(run.stdout.trim()), `${first}: prints what its comments say (${run.stdout.trim().split('\n').join(' | ')})`);
  }
});
