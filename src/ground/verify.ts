// What a verification of a store on disk (persistfs check: a WAL, an LSM store, a flatfs datastore)
// reports: what it read (counts) and what it found wrong, each finding naming the file and, where it
// is known, the byte offset. On the ground floor so that every engine's verify function speaks it.

/** damage: data that a reader would refuse or lose; warning: something a normal crash leaves, that the engine repairs or ignores. */
export type Severity = 'damage' | 'warning';

export interface Finding {
  severity: Severity;
  /** the file, relative to the directory verified ('wal/0000000000000003.wal', '000012.sst', 'MANIFEST') */
  file: string;
  offset?: number;
  problem: string;
}

/** Called as the verification reads: `done` of `total` units (bytes, or files for flatfs), now in `file`. */
export type VerifyProgress = (done: number, total: number, file: string) => void;

export interface VerifyOptions {
  onProgress?: VerifyProgress;
}

export interface VerifyReport {
  /** what was read, one phrase each ("3 segments", "1200 records", "4.5 MiB") */
  checked: string[];
  findings: Finding[];
}

export const damaged = (report: VerifyReport): boolean => report.findings.some((finding) => finding.severity === 'damage');

/** `n` `unit`, the unit in the plural unless n is 1 ("1 segment", "3 segments"). */
export const count = (n: number, unit: string, plural = `${unit}s`): string => `${n} ${n === 1 ? unit : plural}`;

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** A message without the code and description a StorageError's message starts with. */
export const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error)).replace(/^E[A-Z]+: [^,]*, /, '');
