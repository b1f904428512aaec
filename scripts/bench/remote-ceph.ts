// The S3 endpoint of the remote section: a throwaway single-node Ceph radosgw (scripts/ceph-s3.sh), started
// for the section and stopped after it, even when it fails or is interrupted. It runs on ports and in a
// state directory of its own, so a test suite's cluster (the script's defaults) can run beside it and
// neither stops the other.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const CEPH_PROGRAMS = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph', 'curl'] as const;

/**
 * The bench's cluster: not the script's defaults (3300, 6789, 7480, $TMPDIR/persistfs-ceph), which the tests
 * use. BENCH_CEPH_DIR, BENCH_RGW_PORT, BENCH_MON_PORT and BENCH_MON_V1_PORT move it, so two benchmark runs
 * (on two checkouts) can each have one.
 */
const BENCH_CEPH_ENV = {
  CEPH_DIR: process.env.BENCH_CEPH_DIR ?? path.join(os.tmpdir(), 'persistfs-bench-ceph'),
  RGW_PORT: process.env.BENCH_RGW_PORT ?? '7490',
  MON_PORT: process.env.BENCH_MON_PORT ?? '3310',
  MON_V1_PORT: process.env.BENCH_MON_V1_PORT ?? '6799',
};

export interface S3Endpoint {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

export interface RunningCeph extends S3Endpoint {
  /** ceph-s3.sh down: stops radosgw, the OSD and the monitor, removes the state; once, later calls do nothing */
  stop(): void;
  /** radosgw-admin gc process --include-all: the data of deleted objects freed now, not hours later */
  collectGarbage(): void;
}

/** Whether `program` is on the PATH. */
export function installed(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

/** The programs the cluster needs that are not installed (empty when it can start). */
export const missingCephPrograms = (): string[] => CEPH_PROGRAMS.filter((program) => !installed(program));

/**
 * Starts the cluster (about 4 s on memstore: the data lives in RAM, up to 4 GiB). Until stop(), an exit of
 * this process or SIGINT/SIGTERM stops it too, after `beforeInterruptedStop` (which must be synchronous).
 */
export function startCeph(repo: string, beforeInterruptedStop: () => void = () => {}): RunningCeph {
  const script = path.join(repo, 'scripts/ceph-s3.sh');
  const env = { ...process.env, ...BENCH_CEPH_ENV };
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', stop);
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    execFileSync(script, ['down'], { env, stdio: 'ignore' });
  };
  const interrupted = (signal: NodeJS.Signals) => {
    try {
      beforeInterruptedStop();
    } finally {
      stop();
    }
    process.kill(process.pid, signal);
  };
  process.once('exit', stop);
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const [endpoint, accessKeyId, secretAccessKey] = execFileSync(script, ['up'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
      .trim()
      .split(' ') as [string, string, string];
    const collectGarbage = () => {
      execFileSync('radosgw-admin', ['gc', 'process', '--include-all'], {
        env: { ...env, CEPH_CONF: path.join(BENCH_CEPH_ENV.CEPH_DIR, 'ceph.conf') },
        stdio: 'ignore',
      });
    };
    return { endpoint, accessKeyId, secretAccessKey, region: 'us-east-1', stop, collectGarbage };
  } catch (error) {
    stop();
    throw error;
  }
}

/** the name of the rclone remote writeRcloneConfig writes */
export const RCLONE_REMOTE = 'ceph';

/** Writes rclone's configuration for `s3` (the remote `ceph:`) to `file`. */
export async function writeRcloneConfig(s3: S3Endpoint, file: string): Promise<void> {
  await writeFile(
    file,
    [
      `[${RCLONE_REMOTE}]`,
      'type = s3',
      'provider = Ceph',
      `endpoint = ${s3.endpoint}`,
      `access_key_id = ${s3.accessKeyId}`,
      `secret_access_key = ${s3.secretAccessKey}`,
      'force_path_style = true',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
}
