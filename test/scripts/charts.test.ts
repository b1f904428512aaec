// The benchmark charts (scripts/bench/charts.ts, issue 14): small bench and fio reports in, SVG out. Each
// SVG is well-formed XML, names the peers, has one bar per job and peer (the rect marks are counted), and a
// report with no results fails with a clear error instead of drawing an empty chart.
import fs from 'node:fs';
import path from 'node:path';

import test from 'tape';

import { type Chart, chartsOf, writeCharts } from '../../scripts/bench/charts.js';
import { tempDir } from '../helpers.js';

const row = (workload: string, peer: string, opsPerSecond: number) => ({ workload, peer, ops: opsPerSecond, seconds: 1, opsPerSecond, mibPerSecond: 1 });

const BENCH = {
  startedAt: '2026-01-02T03:04:05.000Z',
  quick: true,
  sections: ['storage'],
  results: [
    row('randread-4k-qd1-warm', 'io_uring', 60000),
    row('randread-4k-qd1-warm', 'sync', 50000),
    row('randread-4k-qd1-warm', 'node:fs', 40000),
    row('append-1m', 'io_uring', 900),
    row('append-1m', 'sync', 800),
    row('append-1m', 'node:fs', 1000),
  ],
};

const mount = (target: string, ratio: number, ratioToPeer?: number) => ({
  target,
  median: ratio * 100,
  failedRounds: 0,
  ratio,
  ...(ratioToPeer === undefined ? {} : { ratioToPeer }),
  cpuUsPerRequest: { total: 10 * ratio, user: 1, system: 10 * ratio - 1 },
});

const FIO = {
  startedAt: '2026-01-02T03:04:05.000Z',
  quick: false,
  summary: ['seq-read-1m', 'randread-4k', 'create'].map((job) => ({
    job,
    unit: job === 'create' ? 'files/s' : 'MiB/s',
    backing: { median: 100, failedRounds: 0 },
    mounts: [mount('kernel io_uring', 0.5, 1.25), mount('kernel sync', 0.4, 1), mount('passthrough_hp', 0.4)],
  })),
};

/** Whether `xml` is one well-formed element: every tag closed in order, nothing outside the root. */
function wellFormed(xml: string): string | undefined {
  const stack: string[] = [];
  let roots = 0;
  const tags = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|<!--[\s\S]*?-->/g;
  let end = 0;
  for (let match = tags.exec(xml); match; match = tags.exec(xml)) {
    const between = xml.slice(end, match.index);
    if (between.includes('<')) return `a malformed tag near offset ${end}: ${between.slice(between.indexOf('<'), 60)}`;
    if (stack.length === 0 && between.trim() !== '') return `text outside the root element at ${end}`;
    end = tags.lastIndex;
    const [, closing, name, , selfClosing] = match;
    if (name === undefined) continue;
    if (closing) {
      if (stack.pop() !== name) return `</${name}> closes the wrong element at ${match.index}`;
    } else if (!selfClosing) {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) roots++;
  }
  if (xml.slice(end).trim() !== '') return 'text after the root element';
  if (stack.length > 0) return `unclosed <${stack.at(-1)}>`;
  return roots === 1 ? undefined : `${roots} root elements`;
}

const barsIn = (svg: string) => svg.match(/aria-roledescription="bar"/g)?.length ?? 0;
const named = (charts: Chart[], name: string) => charts.find((chart) => chart.name === name);

test('charts: a bench report draws ratio and throughput bars, one per workload and peer', async (t) => {
  const charts = await chartsOf(BENCH);
  t.deepEqual(
    charts.map((chart) => chart.name),
    ['storage-ratio', 'storage-throughput'],
    'the storage charts (no WAL or LSM section in the report)',
  );
  for (const chart of charts) {
    t.equal(wellFormed(chart.svg), undefined, `${chart.name}: well-formed XML`);
    t.ok(chart.svg.startsWith('<svg'), `${chart.name}: an <svg> root`);
  }
  const ratio = named(charts, 'storage-ratio')!;
  t.equal(barsIn(ratio.svg), 2 * 2, 'ratio: one bar per workload and pair (io_uring / sync, io_uring / node:fs)');
  t.ok(ratio.svg.includes('io_uring / node:fs') && ratio.svg.includes('io_uring / sync'), 'ratio: the pairs are named');
  t.ok(ratio.svg.includes('append-1m') && ratio.svg.includes('randread-4k-qd1-warm'), 'ratio: the workloads are named');
  const throughput = named(charts, 'storage-throughput')!;
  t.equal(barsIn(throughput.svg), 2 * 3, 'throughput: one bar per workload and peer');
  for (const peer of ['io_uring', 'sync', 'node:fs']) t.ok(throughput.svg.includes(peer), `throughput: names ${peer}`);
});

test("charts: the WAL charts draw a checkpointed job apart from the plain one, its ratio over the naive log's plain row", async (t) => {
  const wal = (peer: string, recordsPerSecond: number, checkpointed?: boolean) => ({
    recordBytes: 4096,
    policy: 'always',
    writers: 64,
    peer,
    recordsPerSecond,
    ...(checkpointed ? { checkpointed } : {}),
  });
  const report = {
    startedAt: '2026-01-02T03:04:05.000Z',
    wal: { results: [wal('io_uring', 90000), wal('sync', 80000), wal('node:fs', 20000), wal('io_uring', 130000, true), wal('sync', 120000, true)] },
  };
  const charts = await chartsOf(report);
  const ratio = named(charts, 'wal-ratio')!;
  t.equal(barsIn(ratio.svg), 4, 'ratio: a bar per job (plain, checkpointed) and persistfs peer');
  t.ok(ratio.svg.includes('4096 B, always, checkpointed, 64 writers') && ratio.svg.includes('4096 B, always, 64 writers'), 'ratio: both jobs named');
  t.equal(barsIn(named(charts, 'wal-throughput')!.svg), 5, 'throughput: a bar per row');
});

test('charts: a fio report draws each mount over the backing directory and over passthrough_hp', async (t) => {
  const charts = await chartsOf(FIO);
  t.deepEqual(
    charts.map((chart) => chart.name),
    ['fio-ratio', 'fio-ratio-peer', 'fio-cpu'],
  );
  for (const chart of charts) t.equal(wellFormed(chart.svg), undefined, `${chart.name}: well-formed XML`);
  const ratio = named(charts, 'fio-ratio')!;
  t.equal(barsIn(ratio.svg), 3 * 3, 'mount / backing: one bar per job and mount');
  for (const target of ['kernel io_uring / backing', 'kernel sync / backing', 'passthrough_hp / backing']) t.ok(ratio.svg.includes(target), `names ${target}`);
  const peer = named(charts, 'fio-ratio-peer')!;
  t.equal(barsIn(peer.svg), 3 * 2, 'persistfs / passthrough_hp: one bar per job and persistfs mount (passthrough_hp has none)');
  t.ok(peer.svg.includes('kernel io_uring / passthrough_hp'), 'names the pair');
  t.equal(barsIn(named(charts, 'fio-cpu')!.svg), 3 * 3, 'CPU per request: one bar per job and mount');
});

test('charts: a report with no results is an error, not an empty chart', async (t) => {
  const rejects = async (report: unknown, pattern: RegExp, what: string) => {
    try {
      await chartsOf(report);
      t.fail(`${what}: drew charts`);
    } catch (error) {
      t.match((error as Error).message, pattern, `${what}: ${(error as Error).message}`);
    }
  };
  await rejects({ ...BENCH, results: [] }, /bench report has no results/, 'bench, no rows');
  await rejects({ ...FIO, summary: [] }, /fio report has no results/, 'fio, no summary');
  await rejects({ ...FIO, summary: FIO.summary.map((job) => ({ ...job, mounts: [] })) }, /fio report has no results/, 'fio, no mounts');
  await rejects({ startedAt: 'x' }, /not a bench or fio report/, 'neither kind');
});

test('charts: writeCharts puts <report>-<chart>.svg in the directory asked for', async (t) => {
  const dir = tempDir(t, 'persistfs-charts-');
  const json = path.join(dir, 'fio-20260102T030405Z.json');
  fs.writeFileSync(json, JSON.stringify(FIO));
  const files = await writeCharts(json, path.join(dir, 'out'));
  t.deepEqual(
    files.map((file) => path.relative(dir, file)),
    ['out/fio-20260102T030405Z-fio-ratio.svg', 'out/fio-20260102T030405Z-fio-ratio-peer.svg', 'out/fio-20260102T030405Z-fio-cpu.svg'],
  );
  for (const file of files) t.equal(wellFormed(fs.readFileSync(file, 'utf8').trim()), undefined, `${path.basename(file)}: well-formed`);
});
