// Errors from a kernel result carry no stack trace, as the engine made them and as a handle relabels them
// with the path it knows: an ENOENT lookup is an answer the mount gives before every create, and capturing
// a trace costs more than the rest of the error. A misuse of the API is still traced to its caller.
import { BACKENDS, eachBackend, freshStorage, rejection } from '../helpers.js';

const traced = (error: Error | undefined): boolean => /\n\s+at /.test(error?.stack ?? '');

eachBackend(
  'errors: a kernel result relabelled by a handle has no stack trace; a misuse of the API has one',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const atRoot = await rejection(t, storage.root.stat('missing'), 'ENOENT', 'stat of a missing name');
    t.notOk(traced(atRoot), `no stack trace: ${atRoot?.stack}`);
    const dir = await storage.root.createDirectory('d');
    const inDir = await rejection(t, dir.stat('missing'), 'ENOENT', 'stat of a missing name in a directory');
    t.match(inDir?.message ?? '', /'d\/missing'/, 'labelled with the path from the root');
    t.notOk(traced(inDir), `no stack trace: ${inDir?.stack}`);
    const misuse = await rejection(t, dir.stat('a/b'), 'EINVAL', 'a name with a slash');
    t.ok(traced(misuse), 'a misuse of the API is traced');
    await dir.close();
  },
  BACKENDS.filter((backend) => backend.name === 'local/io_uring'),
);
