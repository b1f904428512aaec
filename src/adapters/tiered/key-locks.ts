// One change at a time per key: the tiered adapter's operations on a name (open for writing, the last
// close, rename, delete, new attributes) take the key's turn, so none of them sees another half done
// (a close queuing an upload under the old name while a rename moves it, for one).
export class KeyLocks {
  private readonly tails = new Map<string, Promise<void>>();

  /** The keys under `prefix` whose turn is held or waited for. */
  takenUnder(prefix: string): string[] {
    return [...this.tails.keys()].filter((key) => key.startsWith(prefix));
  }

  /** Runs `work` once every earlier holder of each of `keys` is done; the keys are taken in sorted order. */
  async with<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const releases: Array<() => void> = [];
    for (const key of sorted) {
      const before = this.tails.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((resolve) => {
        release = resolve;
      });
      const tail = before.then(() => mine);
      this.tails.set(key, tail);
      releases.push(() => {
        release();
        if (this.tails.get(key) === tail) this.tails.delete(key);
      });
      await before;
    }
    try {
      return await work();
    } finally {
      for (const release of releases) release();
    }
  }
}
