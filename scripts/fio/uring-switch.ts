// The fuse module's enable_uring switch, on for the runs that measure FUSE io_uring queues and back to
// what it was after, also on failure. Root only; without the switch (a kernel before 6.14) or the right
// to turn it, the io_uring rows fail to mount and a note says why.
import { readFile, writeFile } from 'node:fs/promises';

const SWITCH = '/sys/module/fuse/parameters/enable_uring';

export async function withUringSwitch<T>(wanted: boolean, note: (message: string) => void, work: () => Promise<T>): Promise<T> {
  const before = wanted
    ? await readFile(SWITCH, 'utf8').then(
        (value) => value.trim(),
        () => undefined,
      )
    : undefined;
  if (wanted && before === undefined) note(`${SWITCH} is missing (a kernel before 6.14): the io_uring queue rows cannot mount`);
  const turned =
    before !== undefined &&
    before !== 'Y' &&
    (await writeFile(SWITCH, 'Y').then(
      () => true,
      () => false,
    ));
  if (before !== undefined && before !== 'Y' && !turned) note(`could not switch ${SWITCH} on (not root?): the io_uring queue rows cannot mount`);
  try {
    return await work();
  } finally {
    if (turned) await writeFile(SWITCH, before!);
  }
}
