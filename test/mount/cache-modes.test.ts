// Which of passthrough and the writeback cache a mount asks the kernel for (mount/transports.ts cacheModes).
import test from 'tape';

import { cacheModes } from '../../mount/transports.js';

test('cache modes: an s3:// mount prefers passthrough as root on the kernel transport; a local one keeps the writeback cache', (t) => {
  const bucket = { backing: 's3://b/p', root: true };
  t.same(cacheModes(bucket), { passthrough: 'prefer', writebackCache: true }, 's3:// as root: passthrough preferred, the writeback cache as fallback');
  t.same(cacheModes({ ...bucket, root: false }), { passthrough: 'off', writebackCache: true }, 'not root: no passthrough (the kernel refuses it)');
  t.same(cacheModes({ ...bucket, passthrough: false }), { passthrough: 'off', writebackCache: true }, '--no-passthrough: the writeback cache');
  t.same(cacheModes({ ...bucket, writebackCache: true }), { passthrough: 'off', writebackCache: true }, '--writeback-cache: chosen over passthrough');
  t.same(cacheModes({ ...bucket, writebackCache: false }), { passthrough: 'prefer', writebackCache: false }, '--no-writeback-cache: passthrough or nothing');
  t.same(cacheModes({ ...bucket, transport: 'fuse-native' }), { passthrough: 'off', writebackCache: false }, 'fuse-native: neither');
  t.same(cacheModes({ ...bucket, passthrough: true }), { passthrough: 'on', writebackCache: false }, '--passthrough: asked for');
  const local = { backing: '/var/lib/obs', root: true };
  t.same(cacheModes(local), { passthrough: 'off', writebackCache: true }, 'a local directory: the writeback cache');
  t.same(cacheModes({ ...local, passthrough: true }), { passthrough: 'on', writebackCache: false }, 'a local directory with --passthrough');
  t.end();
});
