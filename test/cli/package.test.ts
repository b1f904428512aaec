// The npm package as a user gets it: `npm pack` of this repository, installed into a new project (its
// install script builds the native addon there), then used as a library (openStorage, with its types) and
// as a command (npx persistfs). Needs npm and its registry (or a cache holding the dependencies).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'tape';

import { tempDir } from '../helpers.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const version = (JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string }).version;

function run(cwd: string, argv: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(argv[0]!, argv.slice(1), { cwd, encoding: 'utf8', timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('npm pack, npm install of the tarball in a new project: the library and the CLI work there', (t) => {
  const top = tempDir(t, 'persistfs-package-');

  const pack = run(repo, ['npm', 'pack', '--pack-destination', top, '--no-fund']);
  t.equal(pack.status, 0, `npm pack: exit status 0${pack.status === 0 ? '' : `\n${pack.stderr}`}`);
  const tarball = path.join(top, pack.stdout.trim().split('\n').pop() ?? '');
  t.ok(fs.existsSync(tarball), `the tarball is there (${path.basename(tarball)})`);
  const listed = run(top, ['tar', 'tzf', tarball]).stdout.split('\n');
  for (const file of [
    'dist/src/index.js',
    'dist/src/index.d.ts',
    'dist/mount/cli.js',
    'native/binding.gyp',
    'native/src/ring.cc',
    'scripts/install-addon.mjs',
    'README.md',
  ]) {
    t.ok(listed.includes(`package/${file}`), `the package holds ${file}`);
  }
  const extra = listed.filter((file) => /^package\/(dist\/test|native\/build|src|mount|test)\/|\.map$/.test(file));
  t.deepEqual(extra, [], 'and no tests, sources maps, TypeScript sources or built addon');

  const project = path.join(top, 'project');
  fs.mkdirSync(project);
  // its own version differs from persistfs's: --version must say persistfs's
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'scratch', version: '9.9.9', type: 'module', private: true }));
  const install = run(project, ['npm', 'install', '--prefer-offline', '--no-audit', '--no-fund', tarball]);
  t.equal(install.status, 0, `npm install <tarball>: exit status 0${install.status === 0 ? '' : `\n${install.stderr}`}`);
  const installed = path.join(project, 'node_modules', 'persistfs');
  t.ok(fs.existsSync(path.join(installed, 'native/build/Release/persistfs_native.node')), 'its install script built the native addon');

  fs.mkdirSync(path.join(project, 'data'));
  fs.writeFileSync(
    path.join(project, 'use.ts'),
    [
      "import { openStorage, type Storage } from 'persistfs';",
      "const storage: Storage = await openStorage('data');",
      "const file = await storage.root.createFile('hello.txt');",
      "const offset: number = await file.append(Buffer.from('hello from the package'));",
      'await file.close();',
      "console.log(offset, String(await storage.root.readFile('hello.txt')));",
      'await storage.close();',
      '',
    ].join('\n'),
  );
  const tsc = path.join(repo, 'node_modules', '.bin', 'tsc');
  const types = path.join(repo, 'node_modules', '@types');
  const compile = run(project, [tsc, '--strict', '--module', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', types, 'use.ts']);
  t.equal(compile.status, 0, `tsc --strict of an import from 'persistfs' (the package's types): clean${compile.status === 0 ? '' : `\n${compile.stdout}`}`);
  const used = run(project, [process.execPath, 'use.js']);
  t.equal(used.status, 0, `the library runs${used.status === 0 ? '' : `\n${used.stderr}`}`);
  t.equal(used.stdout.trim(), '0 hello from the package', 'and reads back what it wrote');
  const written = path.join(project, 'data', 'hello.txt');
  t.equal(fs.existsSync(written) && fs.readFileSync(written, 'utf8'), 'hello from the package', 'into the directory it was given');

  const versionRun = run(project, ['npx', '--no-install', 'persistfs', '--version']);
  t.equal(versionRun.status, 0, 'npx persistfs --version: exit status 0');
  t.equal(versionRun.stdout.trim(), version, `and prints persistfs's version, ${version}`);
  const help = run(project, ['npx', '--no-install', 'persistfs', '--help']);
  t.equal(help.status, 0, 'npx persistfs --help: exit status 0');
  t.match(help.stdout, /persistfs mount <backing> <mountpoint>/, 'and prints the help');
  t.end();
});
