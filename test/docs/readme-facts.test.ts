// What README.md (and the READMEs beside the code) say that can be checked mechanically, checked, so that
// drift fails `make test`: every option of README's command synopsis exists in that command's --help, with
// the same choices and default; every `make <target>` is a Makefile target; every file and folder the docs
// name exists; the Configuration table is config.ts' keys, environment variables and defaults.
// (readme-cli.test.ts checks the other direction of the synopsis, readme-examples.test.ts the examples.)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'tape';

import { DEFAULTS, loadConfig } from '../../src/config/config.js';
import { CLI, COMMANDS, repo, synopsis } from './readme-kit.js';

const readme = () => fs.readFileSync(path.join(repo, 'README.md'), 'utf8');

interface HelpOption {
  /** [default: ...] as --help shows it, without quotes */
  default?: string;
  /** [choices: ...], without quotes */
  choices?: string[];
}

/** The options `persistfs <command> --help` lists under "Options:", with their default and choices. */
function helpOptions(command: string): Map<string, HelpOption> {
  const help = spawnSync(process.execPath, [CLI, command, '--help'], { encoding: 'utf8', timeout: 30_000 }).stdout;
  const section = /\nOptions:\n([\s\S]*?)(?:\n\n|$)/.exec(help)?.[1] ?? '';
  const options = new Map<string, HelpOption>();
  // an option's entry: its first line and the more indented lines after it (description, [type] [default: ...])
  for (const entry of section.split(/\n(?=\s{1,6}(?:-\w, )?--)/)) {
    const name = /^\s*(?:-\w, )?(--[\w-]+)/.exec(entry)?.[1];
    if (name === undefined) continue;
    const flat = entry.replace(/\s+/g, ' ');
    const option: HelpOption = {};
    const byDefault = /\[default: ("?)(.*?)\1\]/.exec(flat);
    if (byDefault) option.default = byDefault[2];
    const choices = /\[choices: (.*?)\]/.exec(flat);
    if (choices) option.choices = choices[1]!.split(', ').map((choice) => choice.replace(/^"|"$/g, ''));
    options.set(name, option);
  }
  return options;
}

test("README's synopsis: each option is one of --help's, with --help's choices and default", (t) => {
  const text = readme();
  for (const command of COMMANDS) {
    const options = helpOptions(command);
    t.ok(options.size > 2, `persistfs ${command} --help lists its options (${[...options.keys()].join(' ')})`);
    const said = synopsis(text, command);
    // each option as the synopsis writes it, with the word after it (its value, its choices or nothing)
    for (const [, name, value] of said.matchAll(/(?<![\w-])(--[\w-]+)(?: ([^\s[\]-][^\s[\]]*))?/g)) {
      const option = options.get(name!) ?? options.get(name!.replace(/^--no-/, '--'));
      t.ok(option, `persistfs ${command}: README's ${name} is an option of --help`);
      // not a value: a flag's next word (a positional), <a name>, or a placeholder such as URL, R or N
      const flag = option?.default === 'true' || option?.default === 'false';
      if (option === undefined || flag || value === undefined || value.startsWith('<') || /^[A-Z]+$/.test(value)) continue;
      if (option.choices && value.includes('|')) {
        t.deepEqual([...value.split('|')].sort(), [...option.choices].sort(), `persistfs ${command}: README's ${name} ${value} are --help's choices`);
      } else if (option.default !== undefined) {
        t.equal(value, option.default, `persistfs ${command}: README's ${name} ${value} is --help's default`);
      }
    }
  }
  t.end();
});

test('every `make <target>` in README is a target of the Makefile', (t) => {
  const makefile = fs.readFileSync(path.join(repo, 'Makefile'), 'utf8');
  const targets = new Set([...makefile.matchAll(/^([a-z][\w-]*):/gm)].map((match) => match[1]!));
  const text = readme();
  const named = new Set([...text.matchAll(/`make\s+([a-z][\w-]*)/g), ...text.matchAll(/^make ([a-z][\w-]*)/gm)].map((match) => match[1]!));
  t.ok(named.size >= 10, `README names ${named.size} make targets`);
  for (const target of named) t.ok(targets.has(target), `make ${target} is in the Makefile`);
  t.end();
});

/** The documents checked for the files they name: README.md and the READMEs and docs beside the code. */
function documents(): string[] {
  const found = ['README.md', 'docs/ARCHITECTURE.md'];
  for (const dir of ['src', 'native', 'mount', 'scripts']) {
    for (const entry of fs.readdirSync(path.join(repo, dir), { recursive: true, encoding: 'utf8' })) {
      if (entry.endsWith('README.md')) found.push(path.join(dir, entry));
    }
  }
  return found;
}

/**
 * The repository's own files: those at its root and under its source folders (not node_modules, dist/ or
 * native/build, nor ./data and ./mnt of `make run`, which may be a live or stale mount).
 */
function repoFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(path.join(repo, dir), { withFileTypes: true })) {
      const relative = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (relative !== path.join('native', 'build')) walk(relative);
      } else files.push(relative);
    }
  };
  for (const entry of fs.readdirSync(repo, { withFileTypes: true })) if (entry.isFile()) files.push(entry.name);
  for (const dir of ['src', 'mount', 'native', 'scripts', 'test', 'docs']) walk(dir);
  return files.map((file) => path.normalize(file));
}

test('every file and folder the docs name exists', (t) => {
  const files = repoFiles();
  const basenames = new Set(files.map((file) => path.basename(file)));
  for (const document of documents()) {
    const text = fs.readFileSync(path.join(repo, document), 'utf8');
    // a path from the repository's root (dist/... is built from the .ts beside the same path)
    for (const [, named] of text.matchAll(/(?<![\w./-])((?:src|native|mount|scripts|test|docs|dist)\/[\w./-]*[\w])/g)) {
      if (named!.startsWith('dist/')) {
        const source = named!.replace(/^dist\//, '').replace(/\.js$/, '');
        const built = [source, `${source}.ts`, `${source}.mjs`, `${source}.test.ts`];
        t.ok(
          built.some((candidate) => fs.existsSync(path.join(repo, candidate))),
          `${document}: ${named} is built from a source`,
        );
      } else {
        const candidates = [named!, `${named}.ts`, `${named}.test.ts`];
        t.ok(
          candidates.some((candidate) => fs.existsSync(path.join(repo, candidate))),
          `${document}: ${named} exists`,
        );
      }
    }
    // a file named alone (beside the code that the text is about): it is somewhere in the tree
    for (const [, named] of text.matchAll(/(?<![\w./-])([\w-]+\.(?:ts|mjs|cc|h|sh|gyp|fio))\b/g)) {
      t.ok(basenames.has(named!), `${document}: ${named} exists`);
    }
  }
  t.end();
});

test('README, How it is built: each folder and each file named under it exists', (t) => {
  const tree = /## How it is built\n\n```\n([\s\S]*?)```/.exec(readme())?.[1] ?? '';
  const files = repoFiles();
  let folder = '';
  let entries = 0;
  for (const line of tree.split('\n')) {
    const head = /^(\S+)\s/.exec(line)?.[1];
    if (head !== undefined) {
      folder = head.replace(/\/$/, '');
      t.ok(fs.statSync(path.join(repo, folder), { throwIfNoEntry: false })?.isDirectory(), `${folder}/ exists`);
      entries++;
    }
    for (const [, named] of line.matchAll(/(?<![\w./-])([\w-]+\.(?:ts|mjs|cc|h|sh|md))\b/g)) {
      t.ok(
        files.some((file) => file.startsWith(`${folder}/`) && path.basename(file) === named),
        `${named} is under ${folder}/`,
      );
    }
  }
  t.ok(entries >= 15, `the tree has ${entries} folders`);
  t.end();
});

test("README, Configuration: the table is config.ts' keys, environment variables and defaults", (t) => {
  const table = /## Configuration\n[\s\S]*?\n(\| key \|[\s\S]*?)\n\n/.exec(readme())?.[1] ?? '';
  const rows = table
    .split('\n')
    .slice(2)
    .map((row) => row.split('|').map((cell) => cell.trim()));
  const keys = rows.map((row) => row[1]);
  t.deepEqual(keys, Object.keys(DEFAULTS), 'one row per key, in order');
  for (const [, key, env, byDefault] of rows) {
    t.equal(byDefault, String(DEFAULTS[key as keyof typeof DEFAULTS]), `${key}: its default`);
    // the variable is the one config.ts reads: a value given there comes back
    const value = key === 'queueDepth' || key === 'submitThreshold' ? '7' : key === 'logLevel' ? 'warn' : key === 'logFormat' ? 'json' : 'sync';
    const config = loadConfig({ env: { [env!]: value } }) as unknown as Record<string, unknown>;
    t.equal(String(config[key!]), value, `${key}: ${env} sets it`);
  }
  t.end();
});

test("README's package file names carry package.json's version", (t) => {
  const { version } = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string };
  const named = [...readme().matchAll(/persistfs-(\d+\.\d+\.\d+)\.tgz/g)].map((match) => match[1]);
  t.ok(named.length > 0, `README names the package file (${named.length} times)`);
  for (const said of named) t.equal(said, version, `persistfs-${said}.tgz is version ${version}`);
  t.end();
});

test("README's list of apt packages is the Makefile's APT_PACKAGES", (t) => {
  const makefile = fs.readFileSync(path.join(repo, 'Makefile'), 'utf8');
  const installed = (/^APT_PACKAGES := (.*)$/m.exec(makefile)?.[1] ?? '').split(/\s+/).filter(Boolean);
  const said = (/the apt packages ([\s\S]*?);/.exec(readme())?.[1] ?? '').split(/,\s*/).map((name) => name.trim());
  t.ok(installed.length > 5, `the Makefile installs ${installed.length} packages`);
  t.deepEqual([...said].sort(), [...installed].sort(), 'README names the same packages');
  t.end();
});

test('persistfs --help explains itself: each command has an example, each option and positional a description', (t) => {
  for (const command of COMMANDS) {
    const help = spawnSync(process.execPath, [CLI, command, '--help'], { encoding: 'utf8', timeout: 30_000 }).stdout;
    t.match(help, new RegExp(`\\nExamples:\\n\\s+persistfs ${command} `), `persistfs ${command} --help has an example`);
    for (const heading of ['Positionals', 'Options']) {
      const section = new RegExp(`\\n${heading}:\\n([\\s\\S]*?)(?:\\n\\n|$)`).exec(help)?.[1] ?? '';
      for (const entry of section.split(/\n(?=\s{1,6}(?:-\w, )?[\w-]+\s)/)) {
        const name = /^\s*(?:-\w, )?([\w-]+)/.exec(entry)?.[1];
        if (name === undefined || name === '--help' || name === '--version') continue;
        // what is left once the name and yargs' [type] [default: ...] [choices: ...] [required] are taken out
        const said = entry
          .replace(/^\s*(?:-\w, )?[\w-]+/, '')
          .replace(/\[[^\]]*\]/g, '')
          .trim();
        t.ok(said.length >= 10, `persistfs ${command} --help: ${name} says what it is (${said.slice(0, 40)})`);
      }
    }
  }
  t.end();
});

test('every PERSISTFS_* environment variable the code reads is in README', (t) => {
  // internal: the daemon's handshake with its starter, and the test runner's own test moving its files
  const internal = new Set(['PERSISTFS_READY_FD', 'PERSISTFS_TAP_LOG', 'PERSISTFS_TEST_DIR']);
  const read = new Set<string>();
  for (const file of repoFiles().filter((name) => /^(src|mount|scripts)\//.test(name) && /\.(ts|mjs|sh)$/.test(name))) {
    for (const [name] of fs.readFileSync(path.join(repo, file), 'utf8').matchAll(/PERSISTFS_[A-Z_]+[A-Z]/g)) read.add(name);
  }
  t.ok(read.size >= 8, `the code reads ${read.size} of them`);
  const text = readme();
  for (const name of [...read].filter((name) => !internal.has(name)).sort()) t.ok(text.includes(name), `${name} is in README`);
  t.end();
});

/** The member names of `export interface <name>` in a source file. */
function interfaceKeys(file: string, name: string): string[] {
  const source = fs.readFileSync(path.join(repo, file), 'utf8');
  const body = new RegExp(`export interface ${name}\\b[^{]*\\{\\n([\\s\\S]*?)\\n\\}`).exec(source)?.[1] ?? '';
  return [...body.matchAll(/^ {2}(?:readonly )?(\w+)\??:/gm)].map((match) => match[1]!);
}

test('the docs name every option of the public option interfaces', (t) => {
  const text = readme();
  const storagePart = /\*\*Storage\*\*: ([\s\S]*?)\n\n/.exec(text)?.[1] ?? '';
  const s3Part = /Their options: `s3`: ([\s\S]*?)`tiered`:/.exec(text)?.[1] ?? '';
  const tieredPart = /Their options: [\s\S]*?`tiered`: ([\s\S]*?)\n\n/.exec(text)?.[1] ?? '';
  const walPart = /## The write-ahead log\n([\s\S]*?)\n## /.exec(text)?.[1] ?? '';
  const lsm = fs.readFileSync(path.join(repo, 'src/lsm/README.md'), 'utf8');
  const lsmPart = /Options of `LsmStore.open\(dir, options\)`([\s\S]*?)\n\n/.exec(lsm)?.[1] ?? '';
  for (const [what, file, name, part] of [
    ['README, The storage API (**Storage**)', 'src/storage/storage.ts', 'StorageOptions', storagePart],
    ['README, The remote tier (s3)', 'src/adapters/s3/s3-settings.ts', 'S3Options', s3Part],
    ['README, The remote tier (tiered)', 'src/adapters/tiered/tiered-adapter.ts', 'TieredOptions', tieredPart],
    ['README, The write-ahead log', 'src/wal/wal.ts', 'WalOptions', walPart],
    ['src/lsm/README.md', 'src/lsm/types.ts', 'LsmOptions', lsmPart],
  ] as const) {
    const keys = interfaceKeys(file, name);
    t.ok(keys.length >= 5, `${name} has ${keys.length} options (${file})`);
    t.ok(part.length > 0, `${what}: found`);
    const missing = keys.filter((key) => !new RegExp(`\\b${key}\\b`).test(part));
    t.deepEqual(missing, [], `${what} names every ${name} option`);
  }
  t.end();
});
