// scripts/install-addon.mjs, the package's install script (and make's way to build the addon), on a
// package of its layout whose addon is one small C file: the build says one line and what the compiler
// says, not node-gyp's ~30 'gyp info' lines; a second run builds nothing.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'tape';

import { tempDir } from '../helpers.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

test('install-addon.mjs: builds the addon saying what it does, without node-gyp info lines; a second run builds nothing', (t) => {
  const pkg = tempDir(t, 'persistfs-install-addon-');
  fs.mkdirSync(path.join(pkg, 'scripts'));
  fs.mkdirSync(path.join(pkg, 'native', 'src'), { recursive: true });
  fs.copyFileSync(path.join(repo, 'scripts', 'install-addon.mjs'), path.join(pkg, 'scripts', 'install-addon.mjs'));
  fs.writeFileSync(path.join(pkg, 'native', 'binding.gyp'), JSON.stringify({ targets: [{ target_name: 'persistfs_native', sources: ['src/tiny.c'] }] }));
  fs.writeFileSync(
    path.join(pkg, 'native', 'src', 'tiny.c'),
    '#include <node_api.h>\nstatic napi_value init(napi_env env, napi_value exports) { return exports; }\nNAPI_MODULE(NODE_GYP_MODULE_NAME, init)\n',
  );
  // node-gyp as npm would hand it to an install script
  const env = { ...process.env, npm_config_node_gyp: path.join(repo, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js') };
  const run = () => spawnSync(process.execPath, ['scripts/install-addon.mjs'], { cwd: pkg, encoding: 'utf8', env, timeout: 300_000 });

  const first = run();
  t.equal(first.status, 0, `exit status 0${first.status === 0 ? '' : `\n${first.stderr}`}`);
  const addon = path.join(pkg, 'native', 'build', 'Release', 'persistfs_native.node');
  t.ok(fs.existsSync(addon), 'the addon is built');
  const lines = first.stderr.trim().split('\n');
  t.deepEqual(
    lines.filter((line) => line.startsWith('gyp info')),
    [],
    `no node-gyp info lines on stderr (${lines.length} lines in all)`,
  );
  t.match(first.stderr, /^persistfs: building the native addon/, 'it says what it builds');
  t.match(first.stderr, /persistfs: built native\/build\/Release\/persistfs_native.node\n$/, 'and that it is built');

  const built = fs.statSync(addon).mtimeMs;
  const second = run();
  t.equal(second.status, 0, 'a second run: exit status 0');
  t.equal(second.stderr, 'persistfs: the native addon is up to date (native/build/Release/persistfs_native.node)\n', 'says it is up to date');
  t.equal(fs.statSync(addon).mtimeMs, built, 'and builds nothing');
  t.end();
});
