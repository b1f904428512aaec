// `make install` and `make uninstall` (into a temporary DESTDIR: nothing outside it is touched), and
// mount(8) using the installed mount.fuse.persistfs: an fstab line (`mount -T` a temporary fstab, never
// /etc/fstab) and `mount -t fuse.persistfs -o allow_other,ro`, then umount. mount(8) looks for helpers in
// /sbin only, so those run in a mount namespace of their own where an overlay adds the staged helper to
// /sbin: the real /sbin is not changed, and what is mounted there is seen by that namespace alone.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'tape';

import { tempDir } from '../helpers.js';
import { alive } from '../../src/lsm/lock.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const version = (JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string }).version;

function make(...args: string[]) {
  return spawnSync('make', ['-s', '-C', repo, ...args], { encoding: 'utf8', timeout: 60_000 });
}

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? [] : [path.relative(dir, path.join(entry.parentPath, entry.name))]));
}

test('make install puts persistfs and mount.fuse.persistfs under DESTDIR (PREFIX for persistfs); make uninstall removes them', (t) => {
  for (const [prefix, bin] of [
    [undefined, 'usr/local/bin/persistfs'],
    ['/opt/persistfs', 'opt/persistfs/bin/persistfs'],
  ] as Array<[string | undefined, string]>) {
    const destdir = tempDir(t, 'persistfs-destdir-');
    const vars = [`DESTDIR=${destdir}`, ...(prefix ? [`PREFIX=${prefix}`] : [])];
    const install = make('install', ...vars);
    t.equal(install.status, 0, `make install ${vars.join(' ')}: exit status 0${install.status === 0 ? '' : `\n${install.stderr}`}`);
    t.deepEqual(filesUnder(destdir).sort(), ['sbin/mount.fuse.persistfs', bin].sort(), `it installs ${bin} and sbin/mount.fuse.persistfs, nothing else`);
    for (const file of [bin, 'sbin/mount.fuse.persistfs']) {
      const mode = fs.existsSync(path.join(destdir, file)) ? fs.statSync(path.join(destdir, file)).mode & 0o777 : undefined;
      t.equal(mode, 0o755, `${file} is executable (0755)`);
    }
    const run = spawnSync(path.join(destdir, bin), ['--version'], { encoding: 'utf8' });
    t.equal((run.stdout ?? '').trim(), version, `the installed persistfs runs: --version prints ${version}`);
    const helper = spawnSync(
      path.join(destdir, 'sbin/mount.fuse.persistfs'),
      ['/data', '/mnt', '-f', '-v', '-o', 'defaults,nofail,_netdev,x-a=b,ro,allow_other'],
      {
        encoding: 'utf8',
      },
    );
    t.equal(helper.status, 0, 'the installed helper runs (-f: a fake mount, nothing done)');
    t.match(
      helper.stderr,
      /persistfs mount \/data \/mnt -o ro,allow_other --daemon/,
      `and drops the options that are not persistfs's (${(helper.stderr ?? '').trim()})`,
    );
    const uninstall = make('uninstall', ...vars);
    t.equal(uninstall.status, 0, 'make uninstall: exit status 0');
    t.deepEqual(filesUnder(destdir), [], 'and both are gone');
  }
  t.end();
});

/** What a step of the script printed: its exit status and its output (stdout and stderr). */
interface Step {
  status: number;
  output: string;
}

test('mount(8) through the installed helper: an fstab line, then -t fuse.persistfs -o allow_other,ro; umount unmounts', (t) => {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-fstab-'));
  const destdir = path.join(top, 'root');
  const [backing, mnt, work] = ['data', 'mnt', 'work'].map((name) => path.join(top, name)) as [string, string, string];
  for (const dir of [backing, mnt, work]) fs.mkdirSync(dir);
  const logs = [path.join(top, 'fstab.log'), path.join(top, 'ro.log')] as const;
  t.teardown(async () => {
    // a daemon the script could not unmount would otherwise outlive the test in its namespace
    for (const log of logs) {
      const pid = Number(/"pid":(\d+)/.exec(fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '')?.[1]);
      if (!(pid > 0 && alive(pid))) continue;
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    fs.rmSync(top, { recursive: true, force: true });
  });
  t.equal(make('install', `DESTDIR=${destdir}`).status, 0, 'make install DESTDIR=...: exit status 0');
  fs.mkdirSync(path.join(destdir, 'sbin'), { recursive: true }); // the overlay's upper layer, even if nothing was installed
  const fstab = path.join(top, 'fstab');
  fs.writeFileSync(
    fstab,
    `# a temporary fstab\n${backing} ${mnt} fuse.persistfs defaults,nofail,_netdev,x-systemd.requires=foo,log_file=${logs[0]},log_level=info 0 0\n`,
  );

  const sbin = fs.realpathSync('/sbin');
  const script = `
    set -u
    step() { local label=$1 out; shift; out=$("$@" 2>&1); printf '%s\\t%s\\t%s\\n' "$label" "$?" "\${out//$'\\n'/ | }"; }
    # the daemon's pid, from its log (pino's lines carry it; log_level=info: the runner's environment says warn)
    daemon() { sed -n 's/.*"pid":\\([0-9]*\\).*/\\1/p' "$1" | head -1; }
    mount -t overlay overlay -o lowerdir=${sbin},upperdir=${destdir}/sbin,workdir=${work} ${sbin} || exit 99
    step fstab-mount mount -T ${fstab} ${mnt}
    step fstab-table findmnt -n -o SOURCE,FSTYPE,OPTIONS --mountpoint ${mnt}
    step fstab-write bash -c 'mountpoint -q ${mnt} && echo through-fstab > ${mnt}/file && cat ${mnt}/file'
    step fstab-umount umount ${mnt}
    step fstab-daemon-exits timeout 30 tail --pid="$(daemon ${logs[0]})" -f /dev/null
    step ro-mount mount -t fuse.persistfs -o allow_other,ro,log_file=${logs[1]},log_level=info ${backing} ${mnt}
    step ro-table findmnt -n -o SOURCE,FSTYPE,OPTIONS --mountpoint ${mnt}
    step ro-cat bash -c 'mountpoint -q ${mnt} && cat ${mnt}/file'
    step ro-write bash -c 'echo changed > ${mnt}/file'
    step ro-umount umount ${mnt}
    step ro-daemon-exits timeout 30 tail --pid="$(daemon ${logs[1]})" -f /dev/null
    step bad-mount mount -t fuse.persistfs -o bogus ${backing} ${mnt}
    step bad-table findmnt --mountpoint ${mnt}
  `;
  const run = spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', '-c', script], { encoding: 'utf8', timeout: 180_000 });
  t.equal(run.status, 0, `the script ran in its own mount namespace${run.status === 0 ? '' : `: ${run.stderr}`}`);
  const steps = new Map<string, Step>(
    run.stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        const [label = '', status = '', output = ''] = line.split('\t');
        return [label, { status: Number(status), output }];
      }),
  );
  const step = (label: string): Step => steps.get(label) ?? { status: -1, output: '(not run)' };
  const ok = (label: string, what: string) =>
    t.equal(step(label).status, 0, `${what}: exit status 0${step(label).status === 0 ? '' : ` (${step(label).output})`}`);

  ok('fstab-mount', `mount -T fstab ${mnt} (the line: defaults,nofail,_netdev,x-systemd.requires=foo,log_file=...,log_level=info)`);
  const [source, type, options = ''] = step('fstab-table').output.split(/\s+/);
  t.equal(source, backing, 'mount shows the backing directory as the source');
  t.equal(type, 'fuse.persistfs', 'and the type fuse.persistfs');
  t.ok(options.split(',').includes('rw'), `read-write (${options})`);
  t.equal(step('fstab-write').output, 'through-fstab', 'echo > and cat work through the mount');
  ok('fstab-umount', 'umount');
  ok('fstab-daemon-exits', 'the daemon exits after umount');
  const written = path.join(backing, 'file');
  t.equal(fs.existsSync(written) ? fs.readFileSync(written, 'utf8') : undefined, 'through-fstab\n', 'the file is in the backing directory');

  ok('ro-mount', 'mount -t fuse.persistfs -o allow_other,ro');
  const roOptions = (step('ro-table').output.split(/\s+/)[2] ?? '').split(',');
  t.ok(roOptions.includes('ro') && roOptions.includes('allow_other'), `the mount is ro and allow_other (${roOptions.join(',')})`);
  t.equal(step('ro-cat').output, 'through-fstab', 'cat works through the mount');
  t.ok(step('ro-write').status !== 0 && /Read-only file system/.test(step('ro-write').output), `echo > fails, EROFS (${step('ro-write').output})`);
  ok('ro-umount', 'umount');
  ok('ro-daemon-exits', 'the daemon exits after umount');

  t.notEqual(step('bad-mount').status, 0, 'mount -o bogus fails');
  t.match(step('bad-mount').output, /unknown mount option -o bogus/, `saying why (${step('bad-mount').output})`);
  t.notEqual(step('bad-table').status, 0, 'and nothing is mounted');
  t.end();
});
