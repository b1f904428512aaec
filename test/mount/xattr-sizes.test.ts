// getxattr and listxattr through the mount with the caller's buffer sizes made explicit (ctypes): a size
// probe (size 0) answers the exact size, a buffer too small is ERANGE (not EIO), a big enough one gets the
// value or the list.
import fs from 'node:fs';
import path from 'node:path';
import test from 'tape';

import { tempDir } from '../helpers.js';
import { withMount } from './mount-helper.js';

const PROBE = `
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def call(fn, *args):
    size = args[-1]
    buffer = ctypes.create_string_buffer(size) if size else None
    ctypes.set_errno(0)
    result = fn(*args[:-1], buffer, size)
    if result < 0:
        return errno.errorcode[ctypes.get_errno()]
    if not size:
        return result
    raw = buffer.raw[:result]
    return raw if fn is libc.getxattr else '%d %s' % (result, sorted(raw.split(b'\\0')))
def get(path, name, size):
    return call(libc.getxattr, path.encode(), name.encode(), size)
def listed(path, size):
    return call(libc.listxattr, path.encode(), size)
for line in [
    get('f', 'user.ten', 0), get('f', 'user.ten', 4), get('f', 'user.ten', 9), get('f', 'user.ten', 10), get('f', 'user.ten', 100),
    get('f', 'user.empty', 0), get('f', 'user.empty', 8),
    listed('f', 0), listed('f', 10), listed('f', 27), listed('f', 28), listed('f', 1000),
    listed('bare', 0), listed('bare', 8),
    sorted(os.listxattr('f')),
]:
    print(line)
`;

test('getxattr and listxattr: exact size probes, ERANGE for a small buffer, the value for a big one', async (t) => {
  const m = await withMount(t, 'io_uring');
  m.sh('echo x > f && echo y > bare && setfattr -n user.ten -v 0123456789 f && setfattr -n user.bb -v 1 f && setfattr -n user.empty f');
  const script = path.join(tempDir(t), 'probe.py');
  fs.writeFileSync(script, PROBE);
  const lines = m.sh(`python3 ${script}`).split('\n');
  const names = "28 [b'', b'user.bb', b'user.empty', b'user.ten']";
  t.deepEqual(
    lines.slice(0, 7),
    ['10', 'ERANGE', 'ERANGE', "b'0123456789'", "b'0123456789'", '0', "b''"],
    'getxattr: size 0 answers 10, 4 and 9 bytes are ERANGE, 10 and 100 get the value; an empty value is 0 bytes',
  );
  t.deepEqual(lines.slice(7, 12), ['28', 'ERANGE', 'ERANGE', names, names], 'listxattr: size 0 answers 28, 10 and 27 are ERANGE, 28 and 1000 get the names');
  t.deepEqual(lines.slice(12, 14), ['0', "0 [b'']"], 'listxattr of a file without attributes: 0, an empty list');
  t.equal(lines[14], "['user.bb', 'user.empty', 'user.ten']", "python's os.listxattr (a probe, then the list)");
  t.doesNotMatch(m.log(), /writing device/, 'the kernel rejected no reply');
});
