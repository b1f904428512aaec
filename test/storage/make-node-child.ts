// Run as an unprivileged user by special-files.test.ts: `make-node-child.js <root> <storage options JSON>`
// tries Dir.makeNode for each kind and prints, as JSON, the error code of each attempt (or 'made') and the
// names left in the root.
import { deviceNumber, openStorage } from '../../src/index.js';

const [root, options] = process.argv.slice(2);
const storage = await openStorage(root!, JSON.parse(options!));
const outcome: Record<string, unknown> = {};
for (const kind of ['char-device', 'block-device', 'fifo'] as const) {
  try {
    await storage.root.makeNode(kind, kind, 0o600, kind === 'fifo' ? 0 : deviceNumber(1, 3));
    outcome[kind] = 'made';
  } catch (error) {
    outcome[kind] = (error as { code?: string }).code;
  }
}
outcome.entries = (await storage.root.read()).map((entry) => entry.name).sort();
await storage.close();
process.stdout.write(JSON.stringify(outcome));
