// `persistfs check <dir>`: the command line's side of src/check (which does the checking): progress on
// stderr (progress.ts: a bar with the ETA on a terminal, a plain line every few seconds otherwise), the report on
// stdout, and the exit status. Loaded only by that command, so the mount never loads the engines.
import path from 'node:path';

import { checkStore, KIND_NAMES, type StoreKind } from '../src/check/check.js';
import { loadConfig } from '../src/config/config.js';
import { damaged, type Finding } from '../src/ground/verify.js';
import { createLogger } from '../src/log.js';
import { progress } from './progress.js';

/** The exit statuses of persistfs check (2 is a usage error, as for every command). */
export const CHECK_EXIT = { sound: 0, damaged: 1, failed: 3 } as const;

const describeFinding = (dir: string, finding: Finding): string =>
  `${finding.severity === 'damage' ? 'damaged' : 'warning'}: ${path.join(dir, finding.file)}${finding.offset === undefined ? '' : ` at offset ${finding.offset}`}: ${finding.problem}`;

/** Runs the check of `dir` and prints its report; resolves with the exit status. */
export async function runCheck(dir: string, kind: StoreKind | undefined): Promise<number> {
  const bar = progress({ command: 'check', doing: 'checking', done: 'checked' });
  try {
    const config = loadConfig();
    const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, undefined, config.logFormat);
    const result = await checkStore(dir, { kind, logger, onProgress: bar.update });
    bar.stop();
    const out: string[] = [`persistfs check: ${dir}: ${KIND_NAMES[result.kind]}${result.detectedBy ? ` (it has ${result.detectedBy})` : ''}`];
    out.push(`checked: ${result.checked.join('; ')}`);
    for (const finding of result.findings) out.push(describeFinding(dir, finding));
    const damages = result.findings.filter((finding) => finding.severity === 'damage');
    const warnings = result.findings.length - damages.length;
    const warned = warnings === 0 ? '' : ` (${warnings} warning${warnings === 1 ? '' : 's'})`;
    if (damaged(result)) {
      const files = new Set(damages.map((finding) => finding.file)).size;
      out.push(
        `persistfs check: ${dir}: DAMAGED: ${damages.length} problem${damages.length === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}${warned}`,
      );
    } else {
      out.push(`persistfs check: ${dir}: sound${warned}`);
    }
    process.stdout.write(`${out.join('\n')}\n`);
    return damaged(result) ? CHECK_EXIT.damaged : CHECK_EXIT.sound;
  } catch (error) {
    bar.stop();
    process.stderr.write(`persistfs: ${error instanceof Error ? error.message : String(error)}\n`);
    return CHECK_EXIT.failed;
  }
}
