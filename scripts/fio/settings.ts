// How big and how long the jobs are, for the full run and for --quick. The job files read these values
// from FIO_* environment variables (fio expands ${NAME} in job files), so one set of files serves both.

export interface FioSettings {
  /** runs of every job on every target; the table shows the medians */
  rounds: number;
  /** seconds per time_based job, and the cap of the sequential ones */
  runtimeSeconds: number;
  /** the data files of the throughput jobs, in fio's size syntax */
  fileSize: string;
  /** the file of the verify job: small, since it is written and then read back in full */
  verifySize: string;
  /** files created, stat'ed and deleted by the metadata jobs */
  metadataFiles: number;
}

/** About 10 minutes in all on a 2-core machine: 3 rounds x 9 measured jobs x 3 targets. */
export const FULL: FioSettings = {
  rounds: 3,
  runtimeSeconds: 6,
  fileSize: '1g',
  verifySize: '64m',
  // fio's per-file bookkeeping grows with the count (files/s drops by half from 2,000 to 10,000 files
  // even on the backing directory), so more files would measure fio rather than the file system
  metadataFiles: 2000,
};

/** A smoke test: every job once, briefly; not numbers to quote. */
export const QUICK: FioSettings = {
  rounds: 1,
  runtimeSeconds: 1,
  fileSize: '64m',
  verifySize: '8m',
  metadataFiles: 200,
};

/** The environment the job files expect, for a run in `dir`. */
export function jobEnvironment(settings: FioSettings, dir: string): Record<string, string> {
  return {
    FIO_DIR: dir,
    FIO_RUNTIME: String(settings.runtimeSeconds),
    FIO_FILE_SIZE: settings.fileSize,
    FIO_VERIFY_SIZE: settings.verifySize,
    FIO_NRFILES: String(settings.metadataFiles),
  };
}
