// What the README tests share: where the repository and the CLI are, the commands, README's synopsis.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI = path.join(repo, 'dist', 'mount', 'cli.js');
export const COMMANDS = ['mount', 'unmount', 'stats', 'check', 'backup', 'restore'];

/** README's synopsis lines of `command` (the block at the top of "The mount"): those starting `persistfs <command>` and the indented lines after them. */
export function synopsis(readme: string, command: string): string {
  const block = /## The mount\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const lines: string[] = [];
  let inCommand = false;
  for (const line of block.split('\n')) {
    if (line.startsWith('persistfs ')) inCommand = line.startsWith(`persistfs ${command} `);
    if (inCommand) lines.push(line);
  }
  return lines.join('\n');
}
