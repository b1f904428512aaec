// An explicit snapshot (db.snapshot()): an LSM snapshot, which pins its version against compaction until it
// is released. Reads given { snapshot } read as of that version.
import { AbstractSnapshot } from 'abstract-level';
import type { Snapshot } from '../lsm/lsm-store.js';

// abstract-level's typings declare no constructor for AbstractSnapshot; its code takes { owner }.
const SnapshotBase = AbstractSnapshot as unknown as new (options: { owner: unknown }) => AbstractSnapshot;

export class PersistSnapshot extends SnapshotBase {
  constructor(
    options: { owner: unknown },
    readonly lsm: Snapshot,
  ) {
    super(options);
  }

  get version(): number {
    return this.lsm.version;
  }

  /** Called once by close(), when no read uses the snapshot any more. */
  async _close(): Promise<void> {
    this.lsm.release();
  }
}
