// README's command synopsis (the block at the top of "The mount") against the command line itself: every
// option that `persistfs <command> --help` lists is in that command's synopsis, and every command has an
// example with real paths somewhere in README.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'tape';
import { CLI, COMMANDS, repo, synopsis } from './readme-kit.js';

/** The long options `persistfs <command> --help` lists (without --help and --version). */
function helpOptions(command: string): string[] {
  const help = spawnSync(process.execPath, [CLI, command, '--help'], { encoding: 'utf8', timeout: 30_000 }).stdout;
  const options = [...help.matchAll(/^\s+(?:-\w, )?(--[\w-]+)/gm)].map((match) => match[1]!);
  return [...new Set(options)].filter((option) => option !== '--help' && option !== '--version');
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
