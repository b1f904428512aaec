#!/usr/bin/env node
// mount.fuse.persistfs: the helper mount(8) runs for file systems of type fuse.persistfs (`mount -t
// fuse.persistfs /data /mnt -o ro`, or an /etc/fstab line `/data /mnt fuse.persistfs defaults 0 0`). It
// runs `persistfs mount SOURCE MOUNTPOINT -o OPTIONS --daemon` (helper-args.ts says which options pass)
// and exits 0 once the mount is live; otherwise with its status and its one-line error on stderr.
// `make install` puts it in /sbin, where mount(8) looks for helpers.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { HelperUsageError, helperCall } from './helper-args.js';

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url));

let call: ReturnType<typeof helperCall>;
try {
  call = helperCall(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof HelperUsageError)) throw error;
  process.stderr.write(
    `mount.fuse.persistfs: ${error.message}\nusage: mount.fuse.persistfs BACKING MOUNTPOINT [-o OPTIONS] (as mount(8) runs it); see persistfs mount --help\n`,
  );
  process.exit(2);
}
if (call.verbose) process.stderr.write(`mount.fuse.persistfs: persistfs ${call.args.join(' ')}${call.fake ? ' (fake: not run)' : ''}\n`);
if (call.fake) process.exit(0);
// quiet when it mounts, as mount helpers are; the daemon's line about where it logs is said with -v
const run = spawnSync(process.execPath, [CLI, ...call.args], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
if (run.status !== 0 || call.verbose) process.stderr.write(run.stderr ?? '');
process.exit(run.status ?? 1);
