// The work directory: made fresh at the start of a run and removed at the end, with everything in it.
// Since that is a recursive delete of a path given on the command line, a directory is only ever
// emptied or removed when this script made it, which a marker file in it says.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { removeQuietly } from '../bench/data-files.js';
import { mountPoints } from './mount-process.js';

const MARKER = '.persistfs-fio-workdir';

async function entriesOf(dir: string): Promise<string[] | undefined> {
  try {
    return await readdir(dir);
  } catch {
    return undefined;
  }
}

/**
 * Mount points below `dir` left by a run that was killed: unmounted lazily, so that removing `dir` can
 * neither fail on a dead mount (ENOTCONN) nor reach through a live one into its backing store.
 */
function unmountLeftovers(dir: string): void {
  for (const mountpoint of mountPoints().filter((point) => point.startsWith(`${dir}${path.sep}`))) {
    execFileSync('fusermount', ['-uz', mountpoint]);
  }
}

/** Empties `dir` (one of ours from an earlier run) or makes it; refuses any other non-empty directory. */
export async function prepareWorkdir(dir: string): Promise<void> {
  const entries = await entriesOf(dir);
  if (entries !== undefined && entries.length > 0) {
    if (!entries.includes(MARKER)) {
      throw new Error(`${dir} is not empty and was not made by this script: give --dir a new or empty directory`);
    }
    unmountLeftovers(dir);
    await removeQuietly(dir);
  }
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, MARKER), 'made by scripts/fio.ts, which removes this directory at the end of a run\n');
}

export async function removeWorkdir(dir: string): Promise<void> {
  if (!existsSync(path.join(dir, MARKER))) return;
  unmountLeftovers(dir);
  await removeQuietly(dir);
}
