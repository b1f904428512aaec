// CreateSlots: node ids, handles and size cells reserved ahead for the CREATEs the data path answers itself
// (native/src/fuse/data-path.cc AnswerCreate, file-table.h). The data path makes the file, attaches it as the
// slot's handle, names it and replies; JavaScript hears of it by a report queued before that reply, and takes
// the file for the storage then (operations.ts answeredHere), which takes a few awaits. Meanwhile the kernel
// may already ask about the file: every request JavaScript gets waits until the files being taken when it
// came are (taking()), and a RELEASE the data path answered waits for its own file (takenBy()), unless it came
// before the CREATE's report: then nothing takes the file (isUnused, drop; operations.ts takeReleased).

/** One reservation: the node id and handle nothing else is given, the size cell the data path raises. */
export interface CreateSlot {
  readonly node: number;
  readonly fh: number;
  readonly sizeCell: Float64Array;
  /** settles once the slot's file was taken (or could not be) */
  readonly taken: Promise<void>;
}

interface Entry extends CreateSlot {
  used: boolean;
  settle: () => void;
}

export class CreateSlots {
  /** by handle: slots given to the data path, until their file was taken */
  private readonly slots = new Map<number, Entry>();
  private unused = 0;
  /** the slots whose file is being taken */
  private readonly inProgress = new Set<Entry>();

  /**
   * `size` slots are kept given; `reserve` gives a node id and a handle nothing else will have, `give` hands a
   * slot to the data path.
   */
  constructor(
    private readonly size: number,
    private readonly reserve: () => { node: number; fh: number },
    private readonly give: (node: number, fh: number, sizeCell: Float64Array) => void,
  ) {}

  /** Gives slots until `size` are unused. */
  fill(): void {
    while (this.unused < this.size) {
      const { node, fh } = this.reserve();
      const sizeCell = new Float64Array(1);
      let settle = () => {};
      const taken = new Promise<void>((resolve) => (settle = resolve));
      this.slots.set(fh, { node, fh, sizeCell, taken, used: false, settle });
      this.unused++;
      this.give(node, fh, sizeCell);
    }
  }

  /**
   * The data path used the slot of handle `fh` (its report): `take` takes the file, until which every request
   * waits (taking). Undefined when no such slot was given (nothing is started then).
   */
  use(fh: number, take: (slot: CreateSlot) => Promise<void>): CreateSlot | undefined {
    const entry = this.slots.get(fh);
    if (!entry || entry.used) return undefined;
    entry.used = true;
    this.unused--;
    this.inProgress.add(entry);
    const done = () => {
      this.slots.delete(fh);
      this.inProgress.delete(entry);
      entry.settle();
    };
    take(entry).then(done, done);
    return entry;
  }

  /** Whether the slot of handle `fh` is given and its CREATE not reported yet. */
  isUnused(fh: number): boolean {
    const entry = this.slots.get(fh);
    return entry !== undefined && !entry.used;
  }

  /**
   * The data path used the slot of handle `fh`, and the file was released before its report was handled:
   * nothing takes it, the slot is done at once. Undefined when no such slot was given unused.
   */
  drop(fh: number): CreateSlot | undefined {
    const entry = this.slots.get(fh);
    if (!entry || entry.used) return undefined;
    this.slots.delete(fh);
    this.unused--;
    entry.settle();
    return entry;
  }

  /**
   * Settles when the files being taken now are (not those reported later: creates that never stop must not
   * hold the other requests back); undefined when none is.
   */
  taking(): Promise<void> | undefined {
    if (this.inProgress.size === 0) return undefined;
    if (this.inProgress.size === 1) return this.inProgress.values().next().value!.taken;
    return Promise.all([...this.inProgress].map((entry) => entry.taken)).then(() => undefined);
  }

  /**
   * Settles once the file of handle `fh` was taken, when `fh` is a slot's whose file is being taken (a
   * RELEASE reported before its CREATE's report was handled finds the slot unused instead: isUnused).
   */
  takenBy(fh: number): Promise<void> | undefined {
    return this.slots.get(fh)?.taken;
  }
}
