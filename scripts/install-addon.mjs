#!/usr/bin/env node
// The package's `install` script: builds the native addon (native/binding.gyp) with node-gyp where the
// package is installed, so that `npm install persistfs` (or a packed tarball) gives a working library and
// CLI. It first checks for what the build needs (liburing's and ISA-L's headers, a C++ compiler, make, python3) and,
// when something is missing, says which Debian/Ubuntu packages to install and how to build afterwards,
// instead of node-gyp's long compiler output. Nothing is built when the addon is newer than its sources.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const native = path.join(root, 'native');
const addon = path.join(native, 'build', 'Release', 'persistfs_native.node');

function say(line) {
  process.stderr.write(`persistfs: ${line}\n`);
}

function onPath(program) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir !== '' && isExecutable(path.join(dir, program)));
}

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function newestSource(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).reduce((newest, entry) => {
    const full = path.join(dir, entry.name);
    return Math.max(newest, entry.isDirectory() ? newestSource(full) : fs.statSync(full).mtimeMs);
  }, 0);
}

function upToDate() {
  try {
    const built = fs.statSync(addon).mtimeMs;
    return built >= Math.max(newestSource(path.join(native, 'src')), fs.statSync(path.join(native, 'binding.gyp')).mtimeMs);
  } catch {
    return false;
  }
}

/** What the build needs and is missing: [what, Debian package]. */
function missing() {
  const found = [];
  const liburing =
    spawnSync('pkg-config', ['--exists', 'liburing']).status === 0 ||
    ['/usr/include', '/usr/local/include'].some((dir) => fs.existsSync(path.join(dir, 'liburing.h')));
  if (!liburing) found.push(['liburing.h (liburing)', 'liburing-dev']);
  const isal =
    spawnSync('pkg-config', ['--exists', 'libisal']).status === 0 ||
    ['/usr/include', '/usr/local/include'].some((dir) => fs.existsSync(path.join(dir, 'isa-l', 'crc.h')));
  if (!isal) found.push(["isa-l/crc.h (Intel's ISA-L, the WAL's CRC32C)", 'libisal-dev']);
  const compiler = process.env.CXX ? onPath(process.env.CXX) || isExecutable(process.env.CXX) : onPath('g++') || onPath('c++');
  if (!compiler) found.push([process.env.CXX ? `the C++ compiler ${process.env.CXX} (CXX)` : 'a C++ compiler (g++)', 'g++']);
  if (!onPath('make')) found.push(['make', 'make']);
  if (!onPath('python3')) found.push(['python3 (node-gyp runs on it)', 'python3']);
  return found;
}

/** node-gyp: the one npm runs scripts with (npm_config_node_gyp), else one on PATH, else a local one. */
function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && fs.existsSync(fromNpm)) return [process.execPath, fromNpm];
  if (onPath('node-gyp')) return ['node-gyp'];
  const local = path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (fs.existsSync(local)) return [process.execPath, local];
  return undefined;
}

if (upToDate()) {
  say(`the native addon is up to date (${path.relative(root, addon)})`);
  process.exit(0);
}

const lacking = missing();
if (lacking.length > 0) {
  say(`cannot build the native addon: missing ${lacking.map(([what]) => what).join(', ')}.`);
  say(
    `on Debian or Ubuntu, as root: apt-get install -y ${[...new Set(['liburing-dev', 'libisal-dev', 'g++', 'make', 'python3', ...lacking.map(([, pkg]) => pkg)])].join(' ')}`,
  );
  say('then build it again: npm rebuild persistfs (in the project that installed it), or make build (in its repository)');
  process.exit(1);
}

const gyp = nodeGyp();
if (!gyp) {
  say('cannot build the native addon: node-gyp is not found (npm provides it to install scripts; or: npm install -g node-gyp)');
  process.exit(1);
}

// Node's own headers when they are installed beside it (as Debian's nodejs and the official tarballs do):
// then node-gyp needs no download. Otherwise node-gyp fetches them (or uses npm_config_nodedir).
const prefix = path.dirname(path.dirname(process.execPath));
const nodedir = !process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];

say('building the native addon (node-gyp rebuild in native/; about a minute)');
// --loglevel=warn: node-gyp's ~30 'gyp info' lines go; its warnings, errors and the compiler's stay
const build = spawnSync(gyp[0], [...gyp.slice(1), 'rebuild', '--loglevel=warn', ...nodedir], { cwd: native, stdio: ['ignore', 'ignore', 'inherit'] });
if (build.status !== 0 || !fs.existsSync(addon)) {
  say(`building the native addon failed (node-gyp exit status ${build.status ?? build.signal}; its messages are above).`);
  say('it needs, on Debian or Ubuntu: apt-get install -y liburing-dev libisal-dev g++ make python3; then: npm rebuild persistfs');
  process.exit(1);
}
say(`built ${path.relative(root, addon)}`);
