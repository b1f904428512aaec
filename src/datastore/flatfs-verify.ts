// Verifies a flatfs datastore without changing it (persistfs check). flatfs keeps no checksums (a value
// is the whole content of its key's file), so what is checked is the layout (flatfs-layout.ts) and that
// every value reads back: flatfs.shard names a shard function this build knows; every entry of a shard
// directory is a file whose name is a key's and whose key belongs in that shard (a get finds it); every
// such file reads to its end. Files are opened read-only; nothing is written.
import { count, formatBytes, reason, type Finding, type VerifyOptions, type VerifyReport } from '../ground/verify.js';
import type { Dir } from '../storage/dir.js';
import { Mode } from '../storage/mode.js';
import { keyOf, parseShardFile, SHARD_FILE, type ShardFunction } from './flatfs-layout.js';

const CHUNK = 1 << 20;

export async function verifyFlatfs(dir: Dir, options: VerifyOptions = {}): Promise<VerifyReport> {
  const findings: Finding[] = [];
  const damage = (file: string, problem: string, offset?: number) =>
    findings.push({ severity: 'damage', file, problem, ...(offset === undefined ? {} : { offset }) });
  const warn = (file: string, problem: string) => findings.push({ severity: 'warning', file, problem });

  let shard: ShardFunction | undefined;
  const recorded = await dir.readFileIfExists(SHARD_FILE);
  if (recorded === undefined) damage(SHARD_FILE, 'missing: the datastore will not open');
  else {
    try {
      shard = parseShardFile(recorded.toString('utf8'), SHARD_FILE);
    } catch (error) {
      damage(SHARD_FILE, reason(error).replace(/ '[^']*'$/, ''), 0);
    }
  }

  const shards: string[] = [];
  for (const entry of await dir.read()) {
    const name = typeof entry.name === 'string' ? entry.name : entry.name.toString('latin1');
    if (entry.kind === 'directory' && typeof entry.name === 'string') shards.push(name);
    else if (name !== SHARD_FILE) warn(name, `a ${entry.kind} that is no part of a flatfs datastore (flatfs ignores it)`);
  }
  shards.sort();

  // first the listing (the progress counts files), then each file read whole
  const files: Array<{ shard: string; name: string }> = [];
  for (const shardName of shards) {
    const shardDir = await dir.openDirectory(shardName);
    try {
      for (const entry of await shardDir.read()) {
        const name = typeof entry.name === 'string' ? entry.name : entry.name.toString('latin1');
        const path = `${shardName}/${name}`;
        if (typeof entry.name !== 'string' || keyOf(name) === undefined) {
          warn(path, "a name that is no key's file name (flatfs ignores it)");
        } else if (entry.kind !== 'file') {
          damage(path, `the entry of key ${keyOf(name)} is a ${entry.kind}, not a value file: reads of that key fail (EIO)`);
        } else if (shard !== undefined && shard.of(name) !== shardName) {
          damage(path, `the file of key ${keyOf(name)} is in shard ${shardName}, but ${shard.spec} puts it in ${shard.of(name)}: a get does not find it`);
        } else {
          files.push({ shard: shardName, name });
        }
      }
    } finally {
      await shardDir.close();
    }
  }

  let bytes = 0;
  const buffer = Buffer.allocUnsafe(CHUNK);
  for (const [i, { shard: shardName, name }] of files.entries()) {
    const path = `${shardName}/${name}`;
    const shardDir = await dir.openDirectory(shardName);
    try {
      const file = await shardDir.openFile(name, { access: Mode.Read });
      try {
        const size = await file.size();
        for (let at = 0; at < size; ) {
          const n = await file.read(at, buffer.subarray(0, Math.min(CHUNK, size - at)));
          if (n === 0) {
            damage(path, `ends at ${at} of its ${size} bytes`, at);
            break;
          }
          at += n;
        }
        bytes += size;
      } finally {
        await file.close();
      }
    } catch (error) {
      damage(path, `could not be read: ${reason(error)}`);
    } finally {
      await shardDir.close();
    }
    options.onProgress?.(i + 1, files.length, path);
  }
  const checked = [
    shard === undefined ? 'no readable flatfs.shard' : `flatfs.shard (${shard.spec})`,
    count(shards.length, 'shard'),
    `${count(files.length, 'key')} (${formatBytes(bytes)})`,
  ];
  return { checked, findings };
}
