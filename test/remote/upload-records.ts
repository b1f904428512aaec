// The tiered adapter's upload records as a test reads them from its cache directory (uploads.ts,
// close-log.ts): the record files of pending/ and the live lines of its close logs.
import fs from 'node:fs';
import path from 'node:path';

/** The upload records in `cacheDir`, as stored: record files, and the live lines of close logs (a file wins). */
export const recordsIn = (cacheDir: string): Array<Record<string, unknown>> => {
  const pending = path.join(cacheDir, 'pending');
  const read = (name: string) => fs.readFileSync(path.join(pending, name), 'utf8');
  const names = fs.readdirSync(pending);
  const records = new Map<unknown, Record<string, unknown>>();
  for (const name of names.filter((name) => name.endsWith('.log'))) {
    for (const line of read(name)
      .split('\n')
      .filter((line) => line !== '')) {
      const value = JSON.parse(line) as Record<string, unknown>;
      if (value.done !== undefined) records.delete(value.done);
      else records.set(value.id, value);
    }
  }
  for (const name of names.filter((name) => name.endsWith('.json'))) {
    const value = JSON.parse(read(name)) as Record<string, unknown>;
    records.set(value.id, value);
  }
  return [...records.values()];
};
