// Verifies an LSM store without changing it (persistfs check): the MANIFEST (its CRC, and what it says:
// SSTs present, none named twice, numbers below nextFile, levels 1+ sorted and not overlapping,
// lastSequence at or above every SST's newest version), every SST it names (footer, index, filter and
// properties blocks, every data block's CRC32C and entries: keys in order, as the index says, the count
// and versions as the properties say) and the WAL (src/wal/verify.ts, each record decoded as a write
// batch, replay's start present). Nothing is written and the store's LOCK is not taken: SSTs are opened
// read-only, as a read-only open of the store does.
import { isCode } from '../ground/errors.js';
import { count, formatBytes, reason, type Finding, type VerifyOptions, type VerifyReport } from '../ground/verify.js';
import type { Dir } from '../storage/dir.js';
import { Mode } from '../storage/mode.js';
import { verifyWal } from '../wal/verify.js';
import { loadBlock, keyAt, seqAt } from './block.js';
import { MANIFEST_NAME, parseTableName, tableName, WAL_DIR } from './file-names.js';
import { readManifest, type ManifestData } from './manifest.js';
import { checkBlock } from './sst-checks.js';
import { decodeFooter, decodeIndex, decodeProperties, FOOTER_SIZE, type BlockHandle, type TableProperties } from './sst-format.js';
import { MAX_LEVELS } from './version-set.js';
import { decodeBatch } from './write-batch.js';

interface TableCounts {
  blocks: number;
  entries: number;
}

export async function verifyLsm(dir: Dir, options: VerifyOptions = {}): Promise<VerifyReport> {
  const findings: Finding[] = [];
  const damage = (file: string, problem: string, offset?: number) =>
    findings.push({ severity: 'damage', file, problem, ...(offset === undefined ? {} : { offset }) });
  const warn = (file: string, problem: string) => findings.push({ severity: 'warning', file, problem });

  let manifest: ManifestData | undefined;
  try {
    manifest = await readManifest(dir);
    if (manifest === undefined) damage(MANIFEST_NAME, 'missing: the store will not open (every SST present is checked all the same)');
  } catch (error) {
    if (!isCode(error, 'EBADMSG') && !(error instanceof SyntaxError)) throw error;
    const why = /is corrupt: (.*?)(?: '[^']*')?$/.exec(reason(error))?.[1] ?? reason(error);
    damage(MANIFEST_NAME, `${why}: the store will not open (every SST present is checked all the same)`, 0);
  }

  const present = new Set<number>();
  for (const entry of await dir.read()) {
    const number = typeof entry.name === 'string' && entry.kind === 'file' ? parseTableName(entry.name) : undefined;
    if (number !== undefined) present.add(number);
  }
  let toCheck: number[];
  if (manifest === undefined) {
    toCheck = [...present].sort((a, b) => a - b);
  } else {
    toCheck = checkManifest(manifest, present, damage);
    for (const number of present) {
      if (!toCheck.includes(number))
        warn(tableName(number), 'not named by the MANIFEST (left by a crash during a flush or compaction): the next writable open deletes it');
    }
  }

  const sizes = await Promise.all(toCheck.map(async (n) => (await dir.stat(tableName(n))).size));
  const sstBytes = sizes.reduce((a, b) => a + b, 0);
  let done = 0;
  const totals: TableCounts = { blocks: 0, entries: 0 };
  const properties = new Map<number, TableProperties>();
  const walFirst = await walSize(dir);
  const total = sstBytes + walFirst;
  for (const [i, number] of toCheck.entries()) {
    const name = tableName(number);
    const found = await verifyTable(dir, name, damage, totals, (at) => options.onProgress?.(done + at, total, name));
    if (found) properties.set(number, found);
    done += sizes[i]!;
    options.onProgress?.(done, total, name);
  }
  if (manifest !== undefined) checkLevels(manifest, properties, damage);

  const checked = [
    manifest === undefined ? 'no readable MANIFEST' : 'the MANIFEST',
    `${count(toCheck.length, 'SST')} (${count(totals.blocks, 'data block')}, ${count(totals.entries, 'entry', 'entries')}, ${formatBytes(sstBytes)})`,
  ];
  let walDir: Dir | undefined;
  try {
    walDir = await dir.openDirectory(WAL_DIR);
  } catch (error) {
    if (!isCode(error, 'ENOENT')) throw error;
  }
  if (walDir === undefined) {
    if (manifest?.wal) damage(`${WAL_DIR}/`, `missing: the MANIFEST says the WAL's replay starts at segment ${manifest.wal.segment}`);
    checked.push('no WAL (a checkpoint has none)');
  } else {
    try {
      const wal = await verifyWal(walDir, {
        prefix: `${WAL_DIR}/`,
        checkPayload: (payload, position) => {
          try {
            decodeBatch(payload, `${position.segment}:${position.offset}`);
            return undefined;
          } catch (error) {
            return `the record's CRC32C matches but it is no LSM write batch (${reason(error)})`;
          }
        },
        onProgress: (at, _walTotal, file) => options.onProgress?.(done + at, total, file),
      });
      findings.push(...wal.findings);
      const start = manifest?.wal;
      if (start && wal.segments.length > 0 && wal.segments[0]! > start.segment) {
        damage(
          `${WAL_DIR}/`,
          `the MANIFEST says replay starts at segment ${start.segment} offset ${start.offset}, but the first segment is ${wal.segments[0]}`,
        );
      }
      checked.push(`WAL: ${wal.checked.join(', ')}`);
    } finally {
      await walDir.close();
    }
  }
  return { checked, findings };
}

/** The SSTs the manifest names that are present, after checking what the manifest says of them. */
function checkManifest(manifest: ManifestData, present: ReadonlySet<number>, damage: (file: string, problem: string) => void): number[] {
  if (manifest.levels.length > MAX_LEVELS) damage(MANIFEST_NAME, `${manifest.levels.length} levels, this build keeps at most ${MAX_LEVELS}`);
  const named = new Set<number>();
  for (const [level, numbers] of manifest.levels.entries()) {
    for (const number of numbers) {
      if (named.has(number)) damage(MANIFEST_NAME, `names ${tableName(number)} twice`);
      named.add(number);
      if (number >= manifest.nextFile) damage(MANIFEST_NAME, `names ${tableName(number)} (level ${level}), not below its nextFile ${manifest.nextFile}`);
      if (!present.has(number)) damage(tableName(number), `missing: the MANIFEST names it (level ${level}); the store will not open`);
    }
  }
  return [...named].filter((number) => present.has(number)).sort((a, b) => a - b);
}

/** Levels 1 and deeper: each one sorted run, no two SSTs overlapping; lastSequence covers every SST. */
function checkLevels(manifest: ManifestData, properties: ReadonlyMap<number, TableProperties>, damage: (file: string, problem: string) => void): void {
  for (const [level, numbers] of manifest.levels.entries()) {
    for (const number of numbers) {
      const own = properties.get(number);
      if (own && own.maxSeq > Math.max(manifest.lastSequence, manifest.gcHorizon)) {
        damage(MANIFEST_NAME, `lastSequence ${manifest.lastSequence} is below the newest version in ${tableName(number)} (${own.maxSeq})`);
      }
    }
    if (level === 0) continue;
    for (let i = 1; i < numbers.length; i++) {
      const before = properties.get(numbers[i - 1]!);
      const after = properties.get(numbers[i]!);
      if (before && after && !(before.largest < after.smallest)) {
        damage(MANIFEST_NAME, `level ${level}: ${tableName(numbers[i - 1]!)} and ${tableName(numbers[i]!)} overlap or are out of key order`);
      }
    }
  }
}

/** The bytes in the WAL directory, for the progress total (0 without one). */
async function walSize(dir: Dir): Promise<number> {
  let walDir: Dir;
  try {
    walDir = await dir.openDirectory(WAL_DIR);
  } catch (error) {
    if (isCode(error, 'ENOENT')) return 0;
    throw error;
  }
  try {
    let bytes = 0;
    for (const entry of await walDir.read()) if (entry.kind === 'file') bytes += (await walDir.stat(entry.name)).size;
    return bytes;
  } finally {
    await walDir.close();
  }
}

/**
 * Checks the SST `name`: its footer, index, filter and properties blocks, then every data block (CRC32C,
 * layout, keys in order and within the index's first and last keys), and the properties' count and
 * versions against the entries. Reports each problem with its offset; returns the properties when they
 * could be read.
 */
async function verifyTable(
  dir: Dir,
  name: string,
  damage: (file: string, problem: string, offset?: number) => void,
  totals: TableCounts,
  progress: (at: number) => void,
): Promise<TableProperties | undefined> {
  const file = await dir.openFile(name, { access: Mode.Read });
  try {
    const size = await file.size();
    const read = async (handle: BlockHandle): Promise<Buffer> => {
      if (handle.offset + handle.length > size) throw new Error(`the block runs past the end of the file (${size} bytes)`);
      const data = Buffer.allocUnsafe(handle.length);
      const n = handle.length === 0 ? 0 : await file.read(handle.offset, data);
      return checkBlock(data, n, name, handle);
    };
    const step = async <T>(what: string, offset: number, work: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await work();
      } catch (error) {
        damage(name, `${what}: ${sstReason(error)}`, offset);
        return undefined;
      }
    };
    if (size < FOOTER_SIZE) {
      damage(name, `${size} bytes, too short for an SST (its footer alone is ${FOOTER_SIZE})`, 0);
      return undefined;
    }
    const footerAt = size - FOOTER_SIZE;
    const footer = await step('footer', footerAt, async () => decodeFooter(await read({ offset: footerAt, length: FOOTER_SIZE, crc: -1 }), name, footerAt));
    if (footer === undefined) return undefined;
    const index = await step('index block', footer.index.offset, async () => decodeIndex(await read(footer.index), name));
    await step('filter block', footer.filter.offset, () => read(footer.filter));
    const properties = await step('properties block', footer.properties.offset, async () => decodeProperties(await read(footer.properties), name));
    if (index === undefined) return properties;

    let entries = 0;
    let minSeq = Number.POSITIVE_INFINITY;
    let maxSeq = 0;
    let previous: { key: string; seq: number } | undefined;
    let unread = 0;
    for (const [i, handle] of index.handles.entries()) {
      const what = `data block ${i + 1} of ${index.handles.length}`;
      totals.blocks++;
      const block = await step(what, handle.offset, async () => {
        return loadBlock(await read(handle), name, handle.offset, footer.version);
      });
      progress(handle.offset + handle.length);
      if (block === undefined) {
        unread++;
        previous = undefined;
        continue;
      }
      for (let e = 0; e < block.count; e++) {
        const key = keyAt(block, e);
        const seq = seqAt(block, e);
        if (previous && (key < previous.key || (key === previous.key && seq >= previous.seq))) {
          damage(name, `${what}: entry ${e} is out of order (keys ascending, the versions of a key newest first)`, handle.offset + block.offsets[e]!);
        }
        previous = { key, seq };
        minSeq = Math.min(minSeq, seq);
        maxSeq = Math.max(maxSeq, seq);
      }
      entries += block.count;
      if (block.count > 0 && (keyAt(block, 0) !== index.firstKeys[i] || keyAt(block, block.count - 1) !== index.lastKeys[i])) {
        damage(name, `${what}: its first or last key is not the one the index says`, handle.offset);
      }
    }
    totals.entries += entries;
    // (with a block unread, the entries cannot be compared with what the properties say)
    const contradiction = properties && unread === 0 && propertiesProblem(properties, entries, minSeq, maxSeq);
    if (contradiction) damage(name, `properties block: ${contradiction}`, footer.properties.offset);
    return properties;
  } finally {
    await file.close();
  }
}

/** What the properties say that the entries contradict, if anything. */
function propertiesProblem(properties: TableProperties, entries: number, minSeq: number, maxSeq: number): string | undefined {
  if (properties.entries !== entries) return `says ${properties.entries} entries, the data blocks hold ${entries}`;
  if (entries > 0 && (properties.minSeq !== minSeq || properties.maxSeq !== maxSeq)) {
    return `says versions ${properties.minSeq}..${properties.maxSeq}, the entries hold ${minSeq}..${maxSeq}`;
  }
  return undefined;
}

/** The "what" of an SST error ("checksum mismatch"), without the file name and advice corruptSst adds. */
function sstReason(error: unknown): string {
  const message = reason(error);
  const match = /is corrupt(?: \(block at offset \d+\))?: (.*?); the store will not return its data/.exec(message);
  return match ? match[1]! : message;
}
