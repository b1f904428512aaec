// Draws the charts of reports already recorded (issue 14): `node dist/scripts/charts.js
// bench-results/<file>.json...` writes each report's SVG charts beside it, or in --out <dir>; with no file,
// the newest bench and fio reports in bench-results/. `make charts` runs it (CHARTS_ARGS passes arguments).
// The charts themselves are scripts/bench/charts.ts, which bench.ts and fio.ts call after saving.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { writeCharts } from './bench/charts.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RESULTS = path.join(REPO, 'bench-results');

/** The newest bench-*.json and fio-*.json in bench-results/ (their names sort by time). */
function newestReports(): string[] {
  const names = readdirSync(RESULTS).sort();
  return ['bench-', 'fio-']
    .map((prefix) => names.filter((name) => name.startsWith(prefix) && name.endsWith('.json')).at(-1))
    .filter((name): name is string => name !== undefined)
    .map((name) => path.join(RESULTS, name));
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log('usage: node dist/scripts/charts.js [--out <dir>] [bench-results/<report>.json ...]');
    console.log('Writes the SVG charts of each report beside it (or in <dir>); no report: the newest bench and fio reports.');
    return;
  }
  const files = positionals.length > 0 ? positionals : newestReports();
  if (files.length === 0) throw new Error(`charts: no report given and none in ${RESULTS}`);
  for (const file of files) {
    for (const written of await writeCharts(file, values.out)) console.log(`wrote ${path.relative(process.cwd(), written) || written}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
