// The floor plan, checked: every source file belongs to a floor, and a file imports only from its own
// floor or the floors below. `node dist/scripts/layers.js` prints what breaks the plan; the test
// test/ground/layers.test.ts fails when anything breaks it beyond the debts listed there.
//
// Floors, bottom up (a directory is on the floor of its longest listed prefix):
//   0 src/ground, src/log.ts  errors, names, logging: what every layer may use
//   1 src/config              configuration
//   2 src/io                  the IO engines (io_uring, sync) and the native addon
//   3 src/adapters            the storage adapters (local, memory)
//   4 src/storage             the storage API
//   5 src/backend, src/wal    the StorageBackend and the write-ahead log
//   6 src/lsm                 the LSM store
//   7 src/datastore, src/level, src/check (persistfs check: the engines' verify functions),
//     src/backup (persistfs backup/restore: a tree, an LSM store among them, to S3 and back)
//   8 src/index.ts            the package's barrel
//   9 mount                   the FUSE front (both transports)
// Besides, the storage reaches io only through its adapters (floor 4 may not import floor 2), and the
// mount imports the modules it uses, not the barrel (which would load the WAL, LSM and Datastore code
// into the FUSE process). Import cycles between files are breaks too.
import fs from 'node:fs';
import path from 'node:path';

const FLOORS: Array<[string, number]> = [
  ['src/ground', 0],
  ['src/log.ts', 0],
  ['src/config', 1],
  ['src/io', 2],
  ['src/adapters', 3],
  ['src/storage', 4],
  ['src/backend', 5],
  ['src/wal', 5],
  ['src/lsm', 6],
  ['src/datastore', 7],
  ['src/level', 7],
  ['src/check', 7],
  ['src/backup', 7],
  ['src/index.ts', 8],
  ['mount', 9],
];

/** Imports that skip past a floor that should stand between them: [from floor, to floor, why]. */
const SKIPS: Array<[number, number, string]> = [
  [4, 2, 'the storage reaches io only through its adapters'],
  [9, 8, 'the mount imports what it uses, not the barrel'],
];

export interface Break {
  kind: 'upward' | 'skip' | 'cycle';
  /** "from -> to" for imports, the files of the cycle joined by " -> " for cycles */
  what: string;
}

export function floorOf(file: string): number | undefined {
  let best: [string, number] | undefined;
  for (const entry of FLOORS) {
    const [prefix] = entry;
    if ((file === prefix || file.startsWith(`${prefix}/`)) && (!best || prefix.length > best[0].length)) best = entry;
  }
  return best?.[1];
}

function sourceFiles(root: string, dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(root, relative);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [relative] : [];
  });
}

/** The relative imports of each file (type-only imports too: they tie the floors together as much). */
export function importGraph(root: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of [...sourceFiles(root, 'src'), ...sourceFiles(root, 'mount')]) {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    const targets = [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+'(\.[^']+)'/gms)].map((match) =>
      path.posix.normalize(path.posix.join(path.posix.dirname(file), match[1]!.replace(/\.js$/, '.ts'))),
    );
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** The file cycles of the graph (its strongly connected components of more than one file), Tarjan's way. */
function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, counter);
    low.set(file, counter++);
    stack.push(file);
    onStack.add(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) {
        visit(next);
        low.set(file, Math.min(low.get(file)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file)!, index.get(next)!));
      }
    }
    if (low.get(file) === index.get(file)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== file);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const file of [...graph.keys()].sort()) if (!index.has(file)) visit(file);
  return found;
}

/** Everything in the tree at `root` that breaks the floor plan, sorted. */
export function checkLayers(root: string): Break[] {
  const graph = importGraph(root);
  const breaks: Break[] = [];
  for (const [file, targets] of graph) {
    const from = floorOf(file);
    for (const target of targets) {
      const to = floorOf(target);
      if (from === undefined || to === undefined) continue;
      if (to > from) breaks.push({ kind: 'upward', what: `${file} -> ${target}` });
      else if (SKIPS.some(([a, b]) => a === from && b === to)) breaks.push({ kind: 'skip', what: `${file} -> ${target}` });
    }
  }
  for (const component of cycles(graph)) breaks.push({ kind: 'cycle', what: component.join(' -> ') });
  return breaks.sort((a, b) => (a.kind + a.what).localeCompare(b.kind + b.what));
}

const unplaced = (root: string): string[] => [...importGraph(root).keys()].filter((file) => floorOf(file) === undefined);

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const root = process.argv[2] ?? path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
  const breaks = checkLayers(root);
  for (const file of unplaced(root)) console.log(`no floor: ${file} (add its directory to FLOORS in scripts/layers.ts)`);
  for (const { kind, what } of breaks) console.log(`${kind}: ${what}`);
  console.log(`${breaks.length} breaks of the floor plan`);
}

export { unplaced };
