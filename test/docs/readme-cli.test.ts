// README's command synopsis (the block at the top of "The mount") against the command line itself: every
// option that `persistfs <command> --help` lists is in that command's synopsis, and every command has an
// example with real paths somewhere in README.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'tape';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = path.join(repo, 'dist', 'mount', 'cli.js');
const COMMANDS = ['mount', 'unmount', 'stats', 'check', 'backup', 'restore'];

/** The long options `persistfs <command> --help` lists (without --help and --version). */
function helpOptions(command: string): string[] {
  const help = spawnSync(process.execPath, [CLI, command, '--help'], { encoding: 'utf8', timeout: 30_000 }).stdout;
  const options = [...help.matchAll(/^\s+(?:-\w, )?(--[\w-]+)/gm)].map((match) => match[1]!);
  return [...new Set(options)].filter((option) => option !== '--help' && option !== '--version');
}

/** README's synopsis lines of `command`: those starting `persistfs <command>` and the indented lines after them. */
function synopsis(readme: string, command: string): string {
  const block = /## The mount\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const lines: string[] = [];
  let inCommand = false;
  for (const line of block.split('\n')) {
    if (line.startsWith('persistfs ')) inCommand = line.startsWith(`persistfs ${command} `);
    if (inCommand) lines.push(line);
  }
  return lines.join('\n');
}

test("README's synopsis names every option of each command's --help, and every command has an example", (t) => {
  const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
  for (const command of COMMANDS) {
    const said = synopsis(readme, command);
    t.notEqual(said, '', `the synopsis has persistfs ${command}`);
    // a boolean on by default shows in --help as --xattr and in the synopsis as --no-xattr
    const missing = helpOptions(command).filter(
      (option) => !said.includes(`${option} `) && !said.includes(`${option}]`) && !said.includes(option.replace(/^--/, '--no-')),
    );
    t.deepEqual(missing, [], `persistfs ${command}: every option of --help is in the synopsis`);
    t.ok(new RegExp(`\\bpersistfs ${command} (?:--[\\w-]+ )*[/.s]`).test(readme), `persistfs ${command} has an example with a real path`);
  }
  t.end();
});
