// The command line's own behaviour: -h and -V, and usage errors as one line plus where to read more.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'tape';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = path.join(repo, 'dist', 'mount', 'cli.js');

function persistfs(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
}

test('persistfs -V and --version print the version; -h and --help print the help and exit 0', (t) => {
  const version = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')).version as string;
  for (const flag of ['-V', '--version']) {
    const run = persistfs(flag);
    t.equal(run.status, 0, `${flag}: exit status 0`);
    t.equal(run.stdout.trim(), version, `${flag}: prints ${version}`);
  }
  for (const args of [['-h'], ['--help'], ['mount', '-h']]) {
    const run = persistfs(...args);
    t.equal(run.status, 0, `${args.join(' ')}: exit status 0`);
    t.match(run.stdout, /persistfs/, `${args.join(' ')}: prints the help`);
    t.equal(run.stderr, '', `${args.join(' ')}: and no error`);
  }
  t.end();
});

test('a usage error is one line and where to read more, exit status 2', (t) => {
  for (const [args, said, more] of [
    [[], /say which command: mount, unmount, stats, check, backup or restore/, 'see persistfs --help'],
    [['frob'], /Unknown argument: frob/, 'see persistfs --help'],
    [['mount'], /Not enough non-option arguments/, 'see persistfs mount --help'],
    [['mount', 'a', 'b', 'c', '--bogus'], /Unknown argument/, 'see persistfs mount --help'],
    [['unmount'], /Not enough non-option arguments/, 'see persistfs unmount --help'],
    [['stats', 'x', '--count', '0'], /--count must be a whole number/, 'see persistfs stats --help'],
    // an option given without its value: not its default (or '') taken silently
    [['mount', '/tmp', '/nonexistent-mnt', '--attr-timeout'], /^persistfs: --attr-timeout needs a value$/, 'see persistfs mount --help'],
    [['mount', '/tmp', '/nonexistent-mnt', '--daemon', '--log-file'], /^persistfs: --log-file needs a value$/, 'see persistfs mount --help'],
    [['check', '/nonexistent-dir', '--kind'], /^persistfs: --kind needs a value$/, 'see persistfs check --help'],
    // option values and combinations: said before anything is touched, as usage errors
    [
      ['mount', '/tmp', '/nonexistent-mnt', '--attr-timeout', 'x'],
      /--attr-timeout must be a non-negative number of seconds, got 'x'/,
      'see persistfs mount --help',
    ],
    [
      ['mount', 's3://b/p', '/nonexistent-mnt', '--cache-dir', '/tmp', '--cache-size', '1X'],
      /--cache-size must be a number of bytes/,
      'see persistfs mount --help',
    ],
    [
      ['mount', 's3://b/p', '/nonexistent-mnt', '--cache-dir', '/tmp', '--write-back-delay', 'x'],
      /--write-back-delay must be a duration/,
      'see persistfs mount --help',
    ],
    [['mount', 's3://b/p', '/nonexistent-mnt'], /mounting s3:\/\/bucket\/prefix needs --cache-dir/, 'see persistfs mount --help'],
    [['mount', '/tmp', '/nonexistent-mnt', '--cache-dir', '/tmp'], /--cache-dir is for an s3:\/\/bucket\/prefix backing/, 'see persistfs mount --help'],
    [
      ['mount', '/tmp', '/nonexistent-mnt', '--transport', 'fuse-native', '--writeback-cache'],
      /--writeback-cache needs --transport kernel/,
      'see persistfs mount --help',
    ],
    [
      ['mount', '/tmp', '/nonexistent-mnt', '--transport', 'fuse-native', '--fuse-uring', 'on'],
      /--fuse-uring on needs --transport kernel/,
      'see persistfs mount --help',
    ],
    [['mount', '/tmp', '/nonexistent-mnt', '--passthrough', '--writeback-cache'], /--passthrough needs --transport kernel/, 'see persistfs mount --help'],
    [
      ['mount', 's3://b/p', '/nonexistent-mnt', '--cache-dir', '/tmp', '--passthrough'],
      /--passthrough is not offered on s3:\/\/: the kernel would write a file's local copy without the mount/,
      'see persistfs mount --help',
    ],
  ] as Array<[string[], RegExp, string]>) {
    const run = persistfs(...args);
    const lines = run.stderr.trim().split('\n');
    t.equal(run.status, 2, `'${args.join(' ')}': exit status 2`);
    t.equal(lines.length, 2, `'${args.join(' ')}': two lines, not the help (${lines[0]})`);
    t.match(lines[0] ?? '', said, `'${args.join(' ')}': says what is wrong`);
    t.equal(lines[1], more, `'${args.join(' ')}': and where to read more`);
  }
  t.end();
});

test('--dir-cache-time takes seconds or a duration with s, m or h; anything else is a usage error', (t) => {
  const bad = persistfs('mount', 's3://bucket/prefix', '/tmp', '--cache-dir', '/tmp', '--dir-cache-time', '5x');
  t.match(
    bad.stderr,
    /^persistfs: --dir-cache-time must be a duration: a number of seconds, or with s, m or h \(e\.g\. 30s, 5m\), got '5x'\nsee persistfs mount --help\n$/,
    'says what it takes, and where to read more',
  );
  t.equal(bad.status, 2, 'a usage error (exit 2), said before anything is touched');
  t.end();
});

test('-o name[=value],... names the long options; an unknown one is a usage error', (t) => {
  const timeout = persistfs('mount', '-o', 'allow_other,attr_timeout=-1', '/nonexistent-backing', '/tmp');
  t.match(timeout.stderr, /--attr-timeout must be a non-negative number of seconds, got '-1'/, '-o attr_timeout=-1 reaches --attr-timeout');
  const parsed = persistfs('mount', '-oallow_other,no_xattr,io_mode=sync', '/nonexistent-backing', '/tmp');
  t.match(parsed.stderr, /the backing directory does not exist/, 'a valid list is taken: the mount goes on to check its directories');
  // an s3:// backing's options too (an fstab line has nothing else): each reaches its long option
  const missing = '/nonexistent-cache-dir';
  const s3 = persistfs(
    'mount',
    '-o',
    `cache_dir=${missing},endpoint=http://127.0.0.1:1,region=r,cache_size=1G,write_through,write_back_delay=5s,dir_cache_time=1m`,
    's3://b/p',
    '/tmp',
  );
  t.match(
    s3.stderr,
    /the cache directory \(--cache-dir\) does not exist/,
    '-o cache_dir=... and the other S3 options are taken: the mount goes on to check its cache directory',
  );
  const size = persistfs('mount', '-o', 'cache_dir=/tmp,cache_size=1X', 's3://b/p', '/tmp');
  t.match(size.stderr, /--cache-size/, '-o cache_size=1X reaches --cache-size, which refuses it');
  for (const [list, said] of [
    ['bogus', /unknown mount option -o bogus/],
    ['allow_other=1', /-o allow-other takes no value/],
    ['attr_timeout', /-o attr-timeout needs a value/],
  ] as Array<[string, RegExp]>) {
    const run = persistfs('mount', '-o', list, 'a', 'b');
    t.equal(run.status, 2, `-o ${list}: exit status 2`);
    t.match(run.stderr, said, `-o ${list}: says what is wrong`);
    t.match(run.stderr, /see persistfs mount --help\n$/, `-o ${list}: and where to read more`);
  }
  t.end();
});

test('backup and restore load neither the logger (pino) nor the native addon, nor the progress bar when stderr is no terminal: only what they use', (t) => {
  // a preload that says, as the process exits, which of those modules it loaded
  const preload = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-cli-')), 'loaded.cjs');
  fs.writeFileSync(
    preload,
    "process.on('exit', () => process.stderr.write('loaded: ' + JSON.stringify(Object.keys(require.cache).filter((file) => /\\/node_modules\\/(pino|pino-pretty|cli-progress)\\/|\\.node$/.test(file))) + '\\n'));\n",
  );
  // no credentials: each command fails at its first request, before any network
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PROFILE: 'persistfs-none',
    AWS_CONFIG_FILE: '/nonexistent',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
  };
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) delete env[name];
  for (const args of [
    ['backup', '/tmp', 's3://bucket/prefix'],
    ['backup', '--list', 's3://bucket/prefix'],
    ['restore', 's3://bucket/prefix', path.join(path.dirname(preload), 'target')],
  ]) {
    const run = spawnSync(process.execPath, ['--require', preload, CLI, ...args, '--endpoint', 'http://127.0.0.1:9'], {
      encoding: 'utf8',
      timeout: 30_000,
      env,
    });
    t.match(run.stderr, /credentials/i, `${args[0]} ${args[1]}: fails for want of credentials`);
    t.match(run.stderr, /^loaded: \[\]$/m, `${args[0]} ${args[1]}: loaded neither pino, cli-progress nor a .node addon`);
  }
  fs.rmSync(path.dirname(preload), { recursive: true, force: true });
  t.end();
});
