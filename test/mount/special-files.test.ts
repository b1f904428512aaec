// Special files on the mount with the real tools: mkfifo (the kernel moves the FIFO's data), a unix socket
// bound and connected on a path in the mount, mknod of devices as root, ls -l, rm.
import test from 'tape';

import { withMount } from './mount-helper.js';

for (const ioMode of ['io_uring', 'sync']) {
  test(`mkfifo, a unix socket, mknod c and b, ls -l, rm [${ioMode}]`, async (t) => {
    const m = await withMount(t, ioMode);
    m.sh('mkfifo -m 640 pipe');
    t.equal(m.sh('timeout 10 bash -c "(echo through the fifo > pipe &) ; cat pipe"'), 'through the fifo\n', 'data written to the FIFO is read from it');
    const socket = m.sh(`timeout 10 python3 -c "
import socket
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind('sock')
server.listen(1)
client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
client.connect('sock')
peer, _ = server.accept()
client.sendall(b'over the socket')
print(peer.recv(100).decode())"`);
    t.equal(socket, 'over the socket\n', 'a unix socket bound on the mount accepts a connection through its path');
    m.sh('mknod -m 666 null c 1 3 && mknod -m 600 loop b 7 300');
    m.sh(`python3 -c "import os; os.mknod('regular', 0o600)"`);
    const listing = m.sh('ls -l pipe sock null loop regular');
    t.match(listing, /^prw-r----- 1 root root +0 .* pipe$/m, 'ls -l: p for the FIFO, with its mode');
    t.match(listing, /^srwxr-xr-x 1 root root +0 .* sock$/m, 'ls -l: s for the socket');
    t.match(listing, /^crw-rw-rw- 1 root root +1, +3 .* null$/m, 'ls -l: c for the character device, with major, minor');
    t.match(listing, /^brw------- 1 root root +7, +300 .* loop$/m, 'ls -l: b for the block device');
    t.match(listing, /^-rw------- 1 root root +0 .* regular$/m, 'mknod of a regular file makes an empty file');
    t.equal(
      m.sh(`stat -c '%F %t:%T' ${['pipe', 'sock', 'null', 'loop'].map((name) => `${m.backing}/${name}`).join(' ')}`),
      'fifo 0:0\nsocket 0:0\ncharacter special file 1:3\nblock special file 7:12c\n',
      'the backing directory holds the same special files',
    );
    t.match(m.shFails('mkfifo pipe'), /File exists/, 'mkfifo on an existing name: EEXIST');
    m.sh('rm pipe sock null loop regular');
    t.equal(m.sh('ls -A'), '', 'rm removes them');
    t.doesNotMatch(m.log(), /error|Function not implemented/i, 'the mount logged no error');
  });
}
