// The measured jobs: which job file (and section) each runs, what its figure is, and what has to happen
// on a target before every run of it. The job files themselves are in scripts/fio/jobs/.

export const JOB_IDS = [
  'seq-write-1m',
  'seq-read-1m',
  'randread-4k',
  'randread-4k-4jobs',
  'randwrite-4k',
  'randrw-4k-verify',
  'create',
  'stat',
  'delete',
] as const;
export type JobId = (typeof JOB_IDS)[number];

/** What the table shows for a job: bandwidth, IOs per second, or files per second. */
export type Unit = 'MiB/s' | 'IOPS' | 'files/s';

/** The directory, below a target's, where the metadata jobs make their files (metadata.fio says so too). */
export const METADATA_DIR = 'meta';

/** The directory, below a target's, where setAsideBefore moves a job's earlier files. */
export const SET_ASIDE_DIR = 'set-aside';

export interface FioJob {
  id: JobId;
  description: string;
  /** file name in scripts/fio/jobs */
  jobFile: string;
  /** the one section of `jobFile` to run, when it has several */
  section?: string;
  unit: Unit;
  /** the directory below the target's that the job's files are in (made before every run), if not the target's own */
  subdirectory?: string;
  /**
   * Files or directories (relative to the target's directory) removed before every run, so that each run
   * starts from nothing: the sequential write makes a new file.
   */
  removeBefore: readonly string[];
  /**
   * Directories (relative to the target's) renamed into SET_ASIDE_DIR before every run instead of removed,
   * so that the run starts from nothing without freeing inodes just before it: ext4 without a journal
   * (this VM's root) skips inodes freed in the last 60 s (300 s while their table block is dirty) when it
   * allocates one, reading each one's deletion time, so creates after 2,000 deletes scan them all (perf:
   * recently_deleted and its buffer lookups, 29% of the machine; the backing directory's create fell from
   * 24,096 to 1,742 files/s over three rounds). The files set aside go with the work directory at the end.
   */
  setAsideBefore: readonly string[];
  /**
   * Whether fio lays out the job's files before every run (an unmeasured `--create_only=1` run of the
   * same job; a no-op when the files are there with their size), so that the measured run does no
   * setup and the mount's CPU time is the job's alone.
   */
  layout: boolean;
  /** whether the page, dentry and inode caches are dropped before every run */
  cold: boolean;
}

export const FIO_JOBS: readonly FioJob[] = [
  {
    id: 'seq-write-1m',
    description: 'sequential write, 1 MiB blocks, new file, fsync at the end',
    jobFile: 'seq-write-1m.fio',
    unit: 'MiB/s',
    removeBefore: ['seq-write.dat'],
    setAsideBefore: [],
    layout: false,
    cold: false,
  },
  {
    id: 'seq-read-1m',
    description: 'sequential read, 1 MiB blocks, cold',
    jobFile: 'seq-read-1m.fio',
    unit: 'MiB/s',
    removeBefore: [],
    setAsideBefore: [],
    layout: true,
    cold: true,
  },
  {
    id: 'randread-4k',
    description: 'random read, 4 KiB blocks, 1 job, cold',
    jobFile: 'randread-4k.fio',
    unit: 'IOPS',
    removeBefore: [],
    setAsideBefore: [],
    layout: true,
    cold: true,
  },
  {
    id: 'randread-4k-4jobs',
    description: 'random read, 4 KiB blocks, 4 jobs, cold',
    jobFile: 'randread-4k-4jobs.fio',
    unit: 'IOPS',
    removeBefore: [],
    setAsideBefore: [],
    layout: true,
    cold: true,
  },
  {
    id: 'randwrite-4k',
    description: 'random overwrite, 4 KiB blocks, 1 job',
    jobFile: 'randwrite-4k.fio',
    unit: 'IOPS',
    removeBefore: [],
    setAsideBefore: [],
    layout: true,
    cold: false,
  },
  {
    id: 'randrw-4k-verify',
    description: 'random read/write, 4 KiB blocks, verify=crc32c, cold',
    jobFile: 'randrw-4k-verify.fio',
    unit: 'IOPS',
    removeBefore: [],
    setAsideBefore: [],
    layout: true,
    cold: true,
  },
  {
    id: 'create',
    description: 'create empty files (fio filecreate)',
    jobFile: 'metadata.fio',
    section: 'create',
    unit: 'files/s',
    subdirectory: METADATA_DIR,
    removeBefore: [],
    setAsideBefore: [METADATA_DIR],
    layout: false,
    cold: false,
  },
  // stat and delete are cold too, but dropping the caches here would be undone by fio's setup phase,
  // which looks every file up again: metadata.fio drops the dentries itself, after that phase
  {
    id: 'stat',
    description: 'stat existing files (fio filestat), cold dentries',
    jobFile: 'metadata.fio',
    section: 'stat',
    unit: 'files/s',
    subdirectory: METADATA_DIR,
    removeBefore: [],
    setAsideBefore: [],
    layout: true,
    cold: false,
  },
  {
    id: 'delete',
    description: 'unlink existing files (fio filedelete), cold dentries',
    jobFile: 'metadata.fio',
    section: 'delete',
    unit: 'files/s',
    subdirectory: METADATA_DIR,
    removeBefore: [],
    setAsideBefore: [],
    layout: true,
    cold: false,
  },
];
