// `persistfs backup <dir> s3://bucket/prefix`, `persistfs backup --list s3://bucket/prefix` and `persistfs
// restore s3://bucket/prefix <dir>`: the command line's side of src/backup. Progress on stderr
// (progress.ts), a summary line on stdout, errors as one line on stderr with the errno as exit status.
// Loaded only by these commands, so the mount never loads their modules.
import { ObjectStore } from '../src/adapters/s3/object-store.js';
import { resolveS3Settings } from '../src/adapters/s3/s3-settings.js';
import { runBackup } from '../src/backup/backup.js';
import { listBackups, parseBackupId, readManifest } from '../src/backup/manifest.js';
import { runRestore } from '../src/backup/restore.js';
import { StorageError } from '../src/ground/errors.js';
import { formatBytes, progress } from './progress.js';

export interface RemoteOptions {
  /** s3://bucket/prefix */
  url: string;
  endpoint?: string | undefined;
  region?: string | undefined;
  concurrency?: number | undefined;
}

/** The exit status of a failure: its errno (at most 125), 1 when it has none. */
const exitStatus = (error: unknown): number => (error instanceof StorageError && error.errno > 0 ? Math.min(error.errno, 125) : 1);

async function withStore(options: RemoteOptions, work: (store: ObjectStore, prefix: string) => Promise<void>): Promise<number> {
  let store: ObjectStore | undefined;
  try {
    const settings = resolveS3Settings(options.url, { endpoint: options.endpoint, region: options.region });
    store = new ObjectStore(settings);
    await work(store, settings.prefix);
    return 0;
  } catch (error) {
    process.stderr.write(`persistfs: ${error instanceof Error ? error.message : String(error)}\n`);
    return exitStatus(error);
  } finally {
    store?.close();
  }
}

const plural = (count: number, word: string): string => `${count} ${word}${count === 1 ? '' : 's'}`;

export function runBackupCommand(source: string, options: RemoteOptions & { rehash?: boolean }): Promise<number> {
  return withStore(options, async (store, prefix) => {
    const bar = progress({ command: 'backup', doing: 'backing up', done: 'backed up', bytes: true });
    const result = await runBackup({ source, store, prefix, concurrency: options.concurrency, rehash: options.rehash, onProgress: bar.update }).finally(
      bar.stop,
    );
    for (const skipped of result.skipped) process.stderr.write(`persistfs backup: left out ${skipped} (not a file, directory or symbolic link)\n`);
    process.stdout.write(
      `persistfs backup: ${result.id} of ${source} to ${options.url}: ${plural(result.files, 'file')} (${formatBytes(result.bytes)}), ` +
        `${result.bytesSent} bytes sent in ${plural(result.blobsSent, 'new blob')}, ${result.bytesSkipped} bytes skipped as already there, ` +
        `${result.seconds.toFixed(1)} s\n`,
    );
  });
}

/** The signals that stop a restore: each aborts it (the files under way are not made), the exit status 128 + the signal's number. */
const STOPPING = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

export async function runRestoreCommand(
  target: string,
  options: RemoteOptions & { backup?: string | undefined; force?: boolean; workers?: number | undefined },
): Promise<number> {
  const stopper = new AbortController();
  const handlers = Object.keys(STOPPING).map((name) => {
    const handler = () => stopper.abort(name);
    process.once(name, handler);
    return [name, handler] as const;
  });
  try {
    const status = await withStore(options, async (store, prefix) => {
      const bar = progress({ command: 'restore', doing: 'restoring', done: 'restored', bytes: true });
      const backupId = options.backup === undefined ? undefined : parseBackupId(options.backup);
      const result = await runRestore({
        store,
        prefix,
        target,
        backupId,
        force: options.force,
        concurrency: options.concurrency,
        workers: options.workers,
        signal: stopper.signal,
        onProgress: bar.update,
      }).finally(bar.stop);
      process.stdout.write(
        `persistfs restore: ${result.id} from ${options.url} into ${target}: ${plural(result.files, 'file')}, ${result.bytes} bytes, ` +
          `every file's sha256 checked, ${result.seconds.toFixed(1)} s\n`,
      );
    });
    const signal = stopper.signal.reason as keyof typeof STOPPING | undefined;
    return status !== 0 && stopper.signal.aborted && signal !== undefined ? 128 + STOPPING[signal] : status;
  } finally {
    for (const [name, handler] of handlers) process.off(name, handler);
  }
}

export function runListCommand(options: RemoteOptions): Promise<number> {
  return withStore(options, async (store, prefix) => {
    await store.checkBucket();
    const backups = await listBackups(store, prefix);
    if (backups.length === 0) process.stderr.write(`persistfs backup: no backups under ${options.url}\n`);
    for (const { id } of backups) {
      const manifest = await readManifest(store, prefix, id);
      const files = manifest.entries.filter((entry) => entry.kind === 'file');
      const bytes = files.reduce((sum, entry) => sum + (entry.kind === 'file' ? entry.size : 0), 0);
      process.stdout.write(`${id}  ${plural(files.length, 'file')}, ${bytes} bytes (${formatBytes(bytes)})  of ${manifest.source}\n`);
    }
  });
}
