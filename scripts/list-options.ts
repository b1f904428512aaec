// Array options given without a value. yargs hands back an option's default for `--name` followed by
// nothing (an empty list cannot be told from an absent one), so `fio.js --kernel-variants` alone ran every
// variant, one of which switches the fuse module's enable_uring on. The scripts refuse such a command line.

/** The names among `names` that `argv` gives as `--name` with no value after it (end, or another option). */
export function listsGivenEmpty(argv: readonly string[], names: readonly string[]): string[] {
  const empty = new Set<string>();
  argv.forEach((arg, i) => {
    for (const name of names) {
      const bare = arg === `--${name}` && (i + 1 >= argv.length || argv[i + 1]!.startsWith('-'));
      if (bare || arg === `--${name}=`) empty.add(name);
    }
  });
  return [...empty];
}

/** A check() for yargs: the first of `names` given empty in `argv` is a usage error naming it. */
export function refuseEmptyLists(argv: readonly string[], names: readonly string[]): true {
  const [name] = listsGivenEmpty(argv, names);
  if (name !== undefined) throw new Error(`--${name} needs at least one value (a value that starts with '-' goes as --${name}=VALUE)`);
  return true;
}
