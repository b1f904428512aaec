// The three peers under test behind one small interface, so every workload is written once and each peer
// makes the calls it would make in real use: persistfs File/Dir calls (io_uring or sync mode), or
// node:fs/promises FileHandle calls on paths.
import { constants, type FileHandle, open, unlink } from 'node:fs/promises';
import path from 'node:path';

import { openStorage, type Dir, type Storage } from '../../src/index.js';

export type PeerName = 'io_uring' | 'sync' | 'node:fs';
export const PEER_NAMES: readonly PeerName[] = ['io_uring', 'sync', 'node:fs'];

/** The calls the workloads make on an open file. persistfs' File satisfies this as it is. */
export interface BenchFile {
  /** resolves with the bytes read */
  read(offset: number, buffer: Buffer): Promise<number>;
  writeAt(offset: number, buffer: Buffer): Promise<void>;
  /** the append calls resolve with the record's offset in persistfs; the workloads do not need it */
  append(buffer: Buffer): Promise<unknown>;
  appendv(buffers: readonly Buffer[]): Promise<unknown>;
  close(): Promise<void>;
}

export interface BenchDir {
  /** opens an existing file for reading and writing, with O_DIRECT when `direct` */
  openFile(name: string, direct: boolean): Promise<BenchFile>;
  /** creates `name` (failing if it exists) for writing */
  createFile(name: string): Promise<BenchFile>;
  deleteFile(name: string): Promise<void>;
  close(): Promise<void>;
}

export interface Peer {
  readonly name: PeerName;
  /** the bench directory ('') or a directory below it */
  openDirectory(relativePath: string): Promise<BenchDir>;
  close(): Promise<void>;
}

export type PersistfsMode = Exclude<PeerName, 'node:fs'>;

/** persistfs on the bench directory in `mode`, configured alike for every section of the benchmark. */
export async function openPersistfs(mode: PersistfsMode, benchDir: string): Promise<Storage> {
  const storage = await openStorage(benchDir, {
    config: { ioMode: mode, queueDepth: 256, submitThreshold: 32, logLevel: 'warn' },
  });
  if (storage.ioMode !== mode) {
    await storage.close();
    throw new Error(`asked persistfs for the ${mode} IO mode and got ${storage.ioMode}`);
  }
  return storage;
}

export async function openPeer(name: PeerName, benchDir: string): Promise<Peer> {
  if (name === 'node:fs') return new NodeFsPeer(benchDir);
  return new PersistfsPeer(name, benchDir);
}

/**
 * A persistfs peer opens its storage for each use of the bench directory and closes it after: a store has
 * one owner at a time, and the io_uring and sync peers take turns on the same directory.
 */
class PersistfsPeer implements Peer {
  constructor(
    readonly name: PersistfsMode,
    private readonly benchDir: string,
  ) {}

  async openDirectory(relativePath: string): Promise<BenchDir> {
    const storage = await openPersistfs(this.name, this.benchDir);
    try {
      return new PersistfsDir(await storage.openDirectory(relativePath), storage);
    } catch (error) {
      await storage.close();
      throw error;
    }
  }

  async close(): Promise<void> {}
}

class PersistfsDir implements BenchDir {
  constructor(
    private readonly dir: Dir,
    private readonly storage: Storage,
  ) {}

  openFile(name: string, direct: boolean): Promise<BenchFile> {
    return this.dir.openFile(name, { direct });
  }

  createFile(name: string): Promise<BenchFile> {
    return this.dir.createFile(name);
  }

  deleteFile(name: string): Promise<void> {
    return this.dir.deleteFile(name);
  }

  async close(): Promise<void> {
    // the storage closes every handle, the root included
    await this.storage.close();
  }
}

class NodeFsPeer implements Peer {
  readonly name = 'node:fs' as const;

  constructor(private readonly benchDir: string) {}

  async openDirectory(relativePath: string): Promise<BenchDir> {
    return new NodeFsDir(path.join(this.benchDir, relativePath));
  }

  async close(): Promise<void> {}
}

class NodeFsDir implements BenchDir {
  constructor(private readonly dir: string) {}

  async openFile(name: string, direct: boolean): Promise<BenchFile> {
    const handle = await open(path.join(this.dir, name), constants.O_RDWR | (direct ? constants.O_DIRECT : 0));
    return new NodeFsFile(handle, (await handle.stat()).size);
  }

  async createFile(name: string): Promise<BenchFile> {
    return new NodeFsFile(await open(path.join(this.dir, name), 'wx'), 0);
  }

  deleteFile(name: string): Promise<void> {
    return unlink(path.join(this.dir, name));
  }

  async close(): Promise<void> {}
}

/** A FileHandle with the end of file tracked here, so appends are positioned writes as in persistfs. */
class NodeFsFile implements BenchFile {
  constructor(
    private readonly handle: FileHandle,
    private end: number,
  ) {}

  async read(offset: number, buffer: Buffer): Promise<number> {
    const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, offset);
    return bytesRead;
  }

  async writeAt(offset: number, buffer: Buffer): Promise<void> {
    const { bytesWritten } = await this.handle.write(buffer, 0, buffer.length, offset);
    checkWritten(bytesWritten, buffer.length);
  }

  async append(buffer: Buffer): Promise<void> {
    const { bytesWritten } = await this.handle.write(buffer, 0, buffer.length, this.end);
    checkWritten(bytesWritten, buffer.length);
    this.end += bytesWritten;
  }

  async appendv(buffers: readonly Buffer[]): Promise<void> {
    const { bytesWritten } = await this.handle.writev(buffers as Buffer[], this.end);
    checkWritten(
      bytesWritten,
      buffers.reduce((sum, buffer) => sum + buffer.length, 0),
    );
    this.end += bytesWritten;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** A short write to a regular file means a full disk or similar; the numbers would be wrong, so stop. */
function checkWritten(written: number, expected: number): void {
  if (written !== expected) throw new Error(`short write: ${written} of ${expected} bytes`);
}

/** The peers in a different order for every job and round, so that none always goes first. */
export function rotated<T>(peers: readonly T[], by: number): T[] {
  const start = by % peers.length;
  return [...peers.slice(start), ...peers.slice(0, start)];
}
