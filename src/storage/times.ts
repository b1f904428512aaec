// Times given to utimes are checked here, before any system call: a bad one changes nothing.
import type { SetTime } from '../ground/set-time.js';
import { storageError } from '../ground/errors.js';

export type { SetTime };

/** The times the native layer carries exactly: nanoseconds in a signed 64-bit integer (years 1678-2262). */
const LIMIT = 2n ** 63n - 1n;

/** EINVAL unless each time is a bigint of nanoseconds within time_t's range, 'now' or 'omit'. */
export function checkTimes(...times: SetTime[]): void {
  for (const time of times) {
    if (time === 'now' || time === 'omit') continue;
    if (typeof time !== 'bigint') {
      throw storageError('EINVAL', `a time must be nanoseconds since the epoch as a bigint, 'now' or 'omit'; got ${typeof time} ${String(time)}`);
    }
    if (time > LIMIT || time < -LIMIT) {
      throw storageError('EINVAL', `the time ${time} ns is outside what the file system can store`);
    }
  }
}
