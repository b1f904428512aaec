#!/usr/bin/env node
// persistfs: the command line. `persistfs mount <backing-dir> <mountpoint>` serves the storage in the
// foreground as a FUSE file system (or, with --daemon, in the background once it is mounted);
// `persistfs unmount <mountpoint>` takes it down; `stats`, `check`, `backup` and `restore` load their
// modules only when run. Nothing heavy is imported here (no pino, no addon, no SDK): each command loads
// what it needs, so that `backup` and `restore` start as fast as Node and yargs allow (with an endpoint and
// the credentials given they never load the SDK's client: src/adapters/s3/sdk.ts).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { S3Options } from '../src/adapters/s3/s3-settings.js';
import type { TieredOptions } from '../src/adapters/tiered/tiered-adapter.js';
import { loadConfig, type IoModeSetting, type LogLevel } from '../src/config/config.js';
import { LOG_FORMATS, type LogFormat } from '../src/ground/log-format.js';
import { StorageError } from '../src/ground/errors.js';
import { DaemonError, defaultLogFile, startDaemon, takeReadyChannel } from './daemon.js';
import { expandMountOptions, MountOptionError } from './mount-options.js';
import { type Argv, hideBin, yargs } from './yargs.js';
import { DEFAULT_TRANSPORT, mountOptionsProblem, TRANSPORTS } from './transports.js';

/** persistfs's own version, from its package.json (dist/mount/cli.js -> the package's root), wherever it is run from. */
const VERSION = (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Set when this process is a daemon started by `persistfs mount --daemon`: it reports to its starter there. */
const ready = takeReadyChannel();

function fail(error: unknown): never {
  const message = error instanceof StorageError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`persistfs: ${message}\n`);
  ready?.failed(message);
  process.exit(error instanceof StorageError && error.errno > 0 ? Math.min(error.errno, 125) : 1);
}

/** The value of the option `--name` as seconds: a non-negative decimal number, else a one-line error. */
function seconds(name: string, value: string): number {
  if (!/^(\d+\.?\d*|\.\d+)$/.test(value)) throw new Error(`--${name} must be a non-negative number of seconds, got '${value}'`);
  return Number(value);
}

/** A size in bytes written as a number with an optional K, M or G (powers of 1024), else a one-line error. */
function byteSize(name: string, value: string): number {
  const match = /^(\d+)([KMG]?)$/i.exec(value);
  if (match === null) throw new Error(`--${name} must be a number of bytes with an optional K, M or G, got '${value}'`);
  return Number(match[1]) * 1024 ** ' KMG'.indexOf((match[2] || ' ').toUpperCase());
}

/** A duration in ms, written as seconds with an optional s, m or h (as rclone's 5m), else a one-line error. */
function duration(name: string, value: string): number {
  const match = /^(\d+\.?\d*|\.\d+)([smh]?)$/.exec(value);
  if (match === null) throw new Error(`--${name} must be a duration: a number of seconds, or with s, m or h (e.g. 30s, 5m), got '${value}'`);
  return Number(match[1]) * 1000 * { '': 1, s: 1, m: 60, h: 3600 }[match[2] as '' | 's' | 'm' | 'h'];
}

/** The bucket's settings and the cache in front of it, for a backing written s3://bucket/prefix. */
function remoteOptions(argv: {
  'cache-dir'?: string;
  endpoint?: string;
  region?: string;
  'cache-size': string;
  'write-through': boolean;
  'write-back-delay': string;
  'dir-cache-time': string;
}): {
  s3: S3Options;
  tiered: TieredOptions;
} {
  const s3: S3Options = {};
  if (argv.endpoint !== undefined) s3.endpoint = argv.endpoint;
  if (argv.region !== undefined) s3.region = argv.region;
  return {
    s3,
    tiered: {
      cacheDir: argv['cache-dir']!,
      cacheSize: byteSize('cache-size', argv['cache-size']),
      writeMode: argv['write-through'] ? 'through' : 'back',
      writeBackDelay: duration('write-back-delay', argv['write-back-delay']),
      dirCacheTime: duration('dir-cache-time', argv['dir-cache-time']),
    },
  };
}

/** `url` when it is s3://bucket[/prefix], else a one-line error. */
function s3Url(url: string): string {
  if (!/^s3:\/\/[^/]+/.test(url)) throw new Error(`'${url}' is not an s3://bucket/prefix`);
  return url;
}

/** Where the S3 service is: the options of every command that reaches it (mount of s3://, backup, restore). */
const S3_LOCATION = {
  endpoint: {
    type: 'string',
    describe:
      'URL of the S3 service, e.g. http://127.0.0.1:7480 (Ceph radosgw, MinIO, ...; path-style); default AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS',
  },
  region: { type: 'string', describe: 'S3 region; default AWS_REGION, AWS_DEFAULT_REGION, else us-east-1' },
} as const;

/** The options of `persistfs mount` that take a value (the others are flags). */
const VALUE_OPTIONS = [
  'transport',
  'io-mode',
  'config',
  'log-level',
  'log-format',
  'attr-timeout',
  'entry-timeout',
  'fuse-uring',
  'cache-dir',
  'endpoint',
  'region',
  'cache-size',
  'write-back-delay',
  'dir-cache-time',
  'log-file',
];

/** The options of backup and restore: where S3 is, and how many transfers at once. */
function s3Options<T>(y: Argv<T>) {
  return y
    .options(S3_LOCATION)
    .option('concurrency', { type: 'number', default: 4, describe: 'files transferred at once (1-32)' })
    .requiresArg(['endpoint', 'region', 'concurrency'])
    .check((argv) => {
      const concurrency = argv.concurrency as number;
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 32) throw new Error('--concurrency must be a whole number from 1 to 32');
      return true;
    })
    .epilog("Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the AWS SDK's other sources).");
}

function expandedArguments(): string[] {
  try {
    return expandMountOptions(hideBin(process.argv));
  } catch (error) {
    if (!(error instanceof MountOptionError)) throw error;
    process.stderr.write(`persistfs: ${error.message}\nsee persistfs mount --help\n`);
    process.exit(2);
  }
}

const args = expandedArguments();

// A reader that stops early (persistfs stats --json | head) ends a command as SIGPIPE ends a Unix tool:
// quietly. Not the mount's: a mount outlives whatever read its output, and a lost log line must not end it.
if (args[0] !== 'mount') {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(0);
  });
}

await yargs(args)
  .scriptName('persistfs')
  .usage('$0 <command>\n\nA persistence-storage engine on io_uring, served as a FUSE file system.')
  .command(
    'mount <backing> <mountpoint>',
    'Serve the storage in <backing> at <mountpoint>, in the foreground (or in the background: --daemon), until Ctrl-C, SIGTERM, persistfs unmount or umount',
    (y) =>
      y
        .positional('backing', {
          type: 'string',
          demandOption: true,
          describe: 'directory that holds the data (must exist), or s3://bucket/prefix with --cache-dir',
        })
        .positional('mountpoint', { type: 'string', demandOption: true, describe: 'empty directory to mount on (must exist)' })
        .option('transport', {
          choices: TRANSPORTS,
          default: DEFAULT_TRANSPORT,
          describe: 'how FUSE is spoken: kernel (persistfs speaks the kernel protocol itself) or fuse-native (libfuse 2, with its limits: see README)',
        })
        .option('io-mode', { choices: ['auto', 'io_uring', 'sync'] as const, describe: 'IO mode (default: configuration, else auto)' })
        .option('config', { type: 'string', describe: 'JSON configuration file (keys: ioMode, queueDepth, submitThreshold, logLevel, logFormat)' })
        .option('log-level', {
          choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
          describe: 'log level (default: configuration, else info)',
        })
        .option('log-format', {
          choices: LOG_FORMATS,
          describe: 'log lines on stderr: pretty (human-readable) or json (default: configuration, else pretty on a terminal, json otherwise)',
        })
        .option('allow-other', { type: 'boolean', default: false, describe: 'let users other than the one mounting use the mount (permissions still apply)' })
        // strings, checked by seconds(): yargs turns a bad number into NaN and loses what was typed
        .option('attr-timeout', { type: 'string', default: '1', describe: 'seconds the kernel caches file attributes (a non-negative number)' })
        .option('entry-timeout', { type: 'string', default: '1', describe: 'seconds the kernel caches name lookups (a non-negative number)' })
        .option('xattr', {
          type: 'boolean',
          default: true,
          describe:
            'serve extended attributes (--no-xattr: the kernel then skips its security.capability check before each write; an s3:// bucket keeps none: off there)',
        })
        .option('writeback-cache', {
          type: 'boolean',
          describe:
            'kernel transport: the kernel gathers writes in its page cache (fewer, larger requests; written on fsync, close or memory pressure). On by default (not with --passthrough); --no-writeback-cache: each write(2) reaches the storage before it returns',
        })
        .option('native-data-path', {
          type: 'boolean',
          default: true,
          describe:
            'kernel transport: native code answers reads, writes, fsyncs and fstats of open files (--no-native-data-path: JavaScript answers everything, for comparison)',
        })
        .option('fuse-uring', {
          choices: ['auto', 'on', 'off'] as const,
          default: 'auto' as const,
          describe:
            'kernel transport: FUSE over io_uring, one queue per CPU (kernel 6.14+; as root: echo Y > /sys/module/fuse/parameters/enable_uring). auto: when the kernel offers it; on: refuse to mount without it',
        })
        .option('passthrough', {
          type: 'boolean',
          default: false,
          describe:
            "kernel transport, as root: the kernel reads and writes regular files' backing files itself (FUSE passthrough, Linux 6.9+; not with --writeback-cache, not on s3://)",
        })
        .option('cache-dir', { type: 'string', describe: 'for an s3://bucket/prefix backing: the local directory in front of the bucket (must exist)' })
        .options(S3_LOCATION)
        .option('cache-size', {
          type: 'string',
          default: '1G',
          describe: 'bytes of cached blocks kept in --cache-dir (suffixes K, M, G); files waiting for upload come on top',
        })
        .option('write-through', {
          type: 'boolean',
          default: false,
          describe: 'S3: close(2) returns once the file is uploaded (default: write-back, uploaded after close; durable locally at fsync)',
        })
        .option('write-back-delay', {
          type: 'string',
          default: '1s',
          describe:
            'S3, write-back: uploads start once no file has closed for this long (at most 5x it after the first close; seconds, or with s, m, h); a burst of writes is not slowed by uploads; 0: at each close',
        })
        .option('dir-cache-time', {
          type: 'string',
          default: '5m',
          describe:
            "S3: how long a directory's listing answers lookups without asking the bucket (seconds, or with s, m, h); others' changes show after it; 0: ask every time",
        })
        .option('debug', {
          type: 'boolean',
          default: false,
          describe: 'print every FUSE request (fuse-native: libfuse debug output; kernel: each request and reply in the log)',
        })
        .option('read-only', {
          type: 'boolean',
          describe: 'mount read-only (-o ro): the storage opens read-only, beside other readers, and every change through the mount is EROFS',
        })
        .option('daemon', {
          type: 'boolean',
          describe: 'run in the background: return once the mount is live (exit 0), or with the error and a non-zero status when it fails',
        })
        .option('log-file', {
          type: 'string',
          describe:
            "with --daemon: where its log goes (default: the mount point's path with its slashes as dashes, /mnt/obs as mnt-obs.log, in /var/log/persistfs/ as root, else in $XDG_STATE_HOME/persistfs/ or ~/.local/state/persistfs/)",
        })
        .option('foreground', { alias: 'f', type: 'boolean', describe: 'stay in the foreground, logging to stderr (the default)' })
        .conflicts('daemon', 'foreground')
        // an option that takes a value and is given none is a usage error, not its default or '' taken silently
        .requiresArg(VALUE_OPTIONS)
        // usage errors, said before anything is touched (and before a daemon starts)
        .check((argv) => {
          if (argv['log-file'] !== undefined && !argv.daemon) throw new Error('--log-file needs --daemon (in the foreground the log goes to stderr)');
          seconds('attr-timeout', argv['attr-timeout']);
          seconds('entry-timeout', argv['entry-timeout']);
          byteSize('cache-size', argv['cache-size']);
          duration('write-back-delay', argv['write-back-delay']);
          duration('dir-cache-time', argv['dir-cache-time']);
          const problem = mountOptionsProblem({
            transport: argv.transport,
            writebackCache: argv['writeback-cache'],
            passthrough: argv.passthrough,
            fuseUring: argv['fuse-uring'],
            backing: argv.backing,
            cacheDir: argv['cache-dir'],
          });
          if (problem !== undefined) throw new Error(problem);
          return true;
        })
        .example('$0 mount /var/lib/obs /mnt/obs', 'serve /var/lib/obs at /mnt/obs until Ctrl-C')
        .example('$0 mount /var/lib/obs /mnt/obs --daemon -o allow_other', 'in the background, open to other users')
        .example('$0 mount s3://obs/data /mnt/obs --cache-dir /var/cache/obs --endpoint http://127.0.0.1:7480', 'a bucket, cached locally')
        .epilog(
          'Every option but -f can also be given as mount(8) takes them: -o allow_other,attr_timeout=2,no_xattr,ro ' +
            '(an s3:// backing: -o cache_dir=/var/cache/obs,endpoint=http://127.0.0.1:7480). ' +
            'Configuration (--config, PERSISTFS_* variables) and the rest: README.md, The mount.',
        ),
    async (argv) => {
      if (argv.daemon && ready === undefined) {
        const logFile = path.resolve(argv['log-file'] ?? defaultLogFile(argv.mountpoint));
        try {
          const { pid } = await startDaemon([fileURLToPath(import.meta.url), ...args], logFile, argv['log-file'] === undefined);
          process.stderr.write(
            `persistfs: serving ${argv.backing.startsWith('s3://') ? argv.backing : path.resolve(argv.backing)} at ${path.resolve(argv.mountpoint)} in the background (pid ${pid}, log ${logFile}); ` +
              `stop with: persistfs unmount ${path.resolve(argv.mountpoint)}\n`,
          );
          process.exit(0);
        } catch (error) {
          if (!(error instanceof DaemonError)) fail(error);
          process.stderr.write(`persistfs: ${error.message}\n`);
          process.exit(error.status);
        }
      }
      try {
        const attrTimeout = seconds('attr-timeout', argv['attr-timeout']);
        const entryTimeout = seconds('entry-timeout', argv['entry-timeout']);
        const config = loadConfig({
          file: argv.config,
          overrides: {
            ioMode: argv['io-mode'] as IoModeSetting | undefined,
            logLevel: argv['log-level'] as LogLevel | undefined,
            logFormat: argv['log-format'] as LogFormat | undefined,
          },
        });
        const { createLogger } = await import('../src/log.js'); // pino, for this command only
        const logger = createLogger(config.logLevel, undefined, config.logFormat);
        const { runMount } = await import('./run-mount.js'); // the storage engine and FUSE load for this command only
        await runMount({
          backing: argv.backing,
          mountpoint: argv.mountpoint,
          config,
          logger,
          transport: argv.transport,
          allowOther: argv['allow-other'],
          attrTimeout,
          entryTimeout,
          debug: argv.debug,
          xattr: argv.xattr,
          writebackCache: argv['writeback-cache'],
          nativeDataPath: argv['native-data-path'],
          fuseUring: argv['fuse-uring'],
          passthrough: argv.passthrough,
          remote: argv['cache-dir'] === undefined ? undefined : remoteOptions(argv),
          readOnly: argv['read-only'] === true,
          onMounted: ({ backing, mountpoint, ioMode }) => {
            // a daemon has no terminal to Ctrl-C: its log says only how to unmount
            const stop = ready ? '' : 'Ctrl-C, or from another shell: ';
            process.stderr.write(
              `persistfs: serving ${backing} at ${mountpoint} (${ioMode} IO mode${argv['read-only'] ? ', read-only' : ''}).\n` +
                `persistfs: stop with ${stop}persistfs unmount ${mountpoint} (or fusermount -u ${mountpoint})\n`,
            );
            if (ready) {
              ready.mounted();
              process.chdir('/'); // a daemon keeps no directory busy
            }
          },
        });
        process.exit(0);
      } catch (error) {
        fail(error);
      }
    },
  )
  .command(
    'unmount <mountpoint>',
    'Unmount a persistfs mount (its process then closes the storage and exits); also clears a stale one. Refuses anything else',
    (y) =>
      y
        .positional('mountpoint', { type: 'string', demandOption: true, describe: 'where the persistfs mount is (or a stale one was)' })
        .option('lazy', { type: 'boolean', default: false, describe: 'detach now even if files are still open (fusermount -uz)' })
        .example('$0 unmount /mnt/obs', 'the mount ends once its operations in flight finish'),
    async (argv) => {
      const mountpoint = path.resolve(argv.mountpoint);
      try {
        const { unmountPersistfs } = await import('./mountpoint.js'); // it loads the addon (statx)
        await unmountPersistfs(mountpoint, argv.lazy);
      } catch (error) {
        fail(error);
      }
    },
  )
  .command(
    'stats <mountpoint>',
    'A live view of a running mount, one line a second (like iostat): requests per second by operation with their p50/p99 latencies, MB/s read and written, errors, requests in flight',
    (y) =>
      y
        .positional('mountpoint', { type: 'string', demandOption: true, describe: 'where a persistfs mount is served' })
        .option('count', { type: 'number', requiresArg: true, describe: 'stop after this many lines (default: until Ctrl-C)' })
        .option('json', { type: 'boolean', default: false, describe: 'one JSON object a line: every operation, its rates and its totals since the mount' })
        .check((argv) => {
          if (argv.count !== undefined && (!Number.isInteger(argv.count) || argv.count < 1))
            throw new Error('--count must be a whole number of lines, 1 or more');
          return true;
        })
        .example('$0 stats /mnt/data', 'one line a second until Ctrl-C')
        .example('$0 stats /mnt/data --count 5 --json', 'five JSON lines'),
    async (argv) => {
      const { runStats } = await import('./stats-command.js');
      process.exit(await runStats(argv.mountpoint, { count: argv.count, json: argv.json }));
    },
  )
  .command(
    'check <dir>',
    'Verify a WAL directory, an LSM store or a flatfs datastore without changing it. Exit status 0: sound; 1: damaged (each damaged file and offset named); 3: could not check',
    (y) =>
      y
        .positional('dir', { type: 'string', demandOption: true, describe: 'the directory of the WAL, the LSM store or the flatfs datastore' })
        .option('kind', {
          choices: ['wal', 'lsm', 'flatfs'] as const,
          requiresArg: true,
          describe: 'what the directory holds (default: told by its files: MANIFEST, flatfs.shard, *.wal)',
        })
        .example('$0 check /var/lib/obs/db', 'every SST block, the MANIFEST and the WAL of an LSM store'),
    async (argv) => {
      const { runCheck } = await import('./check-command.js'); // the engines load for this command only
      process.exit(await runCheck(argv.dir, argv.kind));
    },
  )
  .command(
    'backup [source] [destination]',
    'Back up a directory tree (an LSM store closed, or a checkpoint of it) to s3://bucket/prefix: each content once (incremental), each new object checked after upload; --list lists the backups there',
    (y) =>
      s3Options(y)
        .positional('source', { type: 'string', describe: 'the directory to back up (with --list: the s3://bucket/prefix)' })
        .positional('destination', { type: 'string', describe: 's3://bucket/prefix to back up to' })
        .option('list', { type: 'boolean', default: false, describe: 'list the backups under s3://bucket/prefix instead (id, files, bytes, source)' })
        .option('rehash', {
          type: 'boolean',
          default: false,
          describe: 'read and hash every file (by default a file the newest backup has with the same path, size and mtime is not read again)',
        })
        .check((argv) => {
          if (argv.list) {
            if (argv.destination !== undefined || argv.source === undefined) throw new Error('backup --list takes one argument: s3://bucket/prefix');
            s3Url(argv.source);
          } else {
            if (argv.source === undefined || argv.destination === undefined) throw new Error('backup takes a directory and s3://bucket/prefix');
            if (argv.source.startsWith('s3://')) throw new Error(`backup takes the directory first, then s3://bucket/prefix (got '${argv.source}' first)`);
            s3Url(argv.destination);
          }
          return true;
        })
        .example('$0 backup /var/lib/obs/db s3://backups/obs', 'back up a directory (only what changed is sent)')
        .example('$0 backup --list s3://backups/obs', 'list the backups there'),
    async (argv) => {
      const { runBackupCommand, runListCommand } = await import('./backup-command.js'); // the S3 modules load for this command only
      const remote = { endpoint: argv.endpoint, region: argv.region, concurrency: argv.concurrency };
      process.exit(
        argv.list
          ? await runListCommand({ url: argv.source!, ...remote })
          : await runBackupCommand(argv.source!, { url: argv.destination!, ...remote, rehash: argv.rehash }),
      );
    },
  )
  .command(
    'restore <source> <target>',
    'Restore a backup from s3://bucket/prefix (the newest, or --backup <id>) into a new or empty directory, checking every file against its sha256',
    (y) =>
      s3Options(y)
        .positional('source', { type: 'string', demandOption: true, describe: 's3://bucket/prefix the backups are under' })
        .positional('target', { type: 'string', demandOption: true, describe: 'the directory to restore into (made when it is not there; must be empty)' })
        .option('backup', {
          type: 'string',
          requiresArg: true,
          describe: 'the id of the backup to restore (persistfs backup --list shows them); default: the newest',
        })
        .option('force', {
          type: 'boolean',
          default: false,
          describe: 'restore into a directory that is not empty (files of the backup replace those of the same name)',
        })
        .option('workers', {
          type: 'number',
          requiresArg: true,
          describe: 'threads the files are fetched, checked and written on (0-32, at most --concurrency); default: the CPUs; 0: the main thread',
        })
        .check((argv) => {
          s3Url(argv.source);
          const workers = argv.workers;
          if (workers !== undefined && (!Number.isInteger(workers) || workers < 0 || workers > 32))
            throw new Error('--workers must be a whole number from 0 to 32');
          return true;
        })
        .example('$0 restore s3://backups/obs /var/lib/obs/db-restored', 'restore the newest backup'),
    async (argv) => {
      const { runRestoreCommand } = await import('./backup-command.js');
      process.exit(
        await runRestoreCommand(argv.target, {
          url: argv.source,
          endpoint: argv.endpoint,
          region: argv.region,
          concurrency: argv.concurrency,
          backup: argv.backup,
          force: argv.force,
          workers: argv.workers,
        }),
      );
    },
  )
  .demandCommand(1, 'say which command: mount, unmount, stats, check, backup or restore')
  .strict()
  .help()
  .alias('h', 'help')
  .version(VERSION)
  .alias('V', 'version')
  // a usage error is one line and where to read more, not the whole help
  .fail((message, error) => {
    if (error && !message) throw error;
    const command = ['mount', 'unmount', 'stats', 'check', 'backup', 'restore'].includes(process.argv[2] ?? '') ? ` ${process.argv[2]}` : '';
    // one line: yargs says some of its errors on several
    const said = (message ?? error?.message ?? '').replace(/:?\s*\n\s*/g, ': ');
    // yargs' "Not enough arguments following: attr-timeout", said as the option is written
    const meant = said.replace(/^Not enough arguments following: (\S+)$/, '--$1 needs a value');
    process.stderr.write(`persistfs: ${meant}\nsee persistfs${command} --help\n`);
    process.exit(2);
  })
  .parseAsync();
