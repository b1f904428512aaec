// How a mount shows in the mount table (mount(8), df, /proc/self/mountinfo) through either transport: type
// fuse.persistfs, and the backing directory as its source, so that `mount` says where the data lives.
import fs from 'node:fs';
import test from 'tape';

import { withMount } from './mount-helper.js';

for (const transport of ['kernel', 'fuse-native']) {
  test(`${transport} transport: the mount table shows type fuse.persistfs and the backing directory as the source`, async (t) => {
    const m = await withMount(t, 'io_uring', ['--transport', transport]);
    const fields = (
      fs
        .readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .find((line) => line.split(' ')[4] === m.mnt) ?? ''
    )
      .split(' - ')[1]
      ?.split(' ');
    t.equal(fields?.[0], 'fuse.persistfs', 'type fuse.persistfs');
    t.equal(fields?.[1], m.backing, `source ${m.backing}`);
  });
}
