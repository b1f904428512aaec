// When a read or write of an O_DIRECT descriptor goes to the kernel: at once, each in its own io_uring_enter
// (eager), or with the batch at the end of the tick, at once only when the ring has nothing in the kernel
// (batched). Which one is faster is the machine's: the device starts on an eager request while JavaScript
// prepares the next ones, and pays a submission (and on a VM perhaps a notification of the host) for each.
// Measured, 4 KiB random O_DIRECT reads at 32 in flight on virtio disks (fio's io_uring engine, which submits
// each read by itself, in the same runs): session 52's VM batched 113-153K reads/s, eager 31-66K (fio
// 58-88K); session 55's VM eager 77-80K, batched 59-69K (fio 78-83K): there the 32 completions came back
// together, and a batch of 31 took 81-113 us in io_uring_enter, with the device idle.
//
// 'adaptive' follows the latency of each way: from a request's start to its completion as JavaScript sees
// it, averaged over windows of WINDOW completions of requests started in the window's way. Most windows use
// the way with the lower mean, one in PROBE_EVERY the other, so that a change in the machine or the load is
// seen. With a fixed number in flight the latency is that number over the throughput (Little's law), so the
// lower latency is the higher throughput; with few requests in flight the ring is idle at each one and both
// ways submit it at once. Windows of 128 with a probe in 8 (session 55) swung: the completions come back in
// bursts of the same latency, and a window of four bursts chose the slower way for a quarter of the reads.

export type DirectPacingMode = 'adaptive' | 'eager' | 'batched';

/** completions a window averages */
export const WINDOW = 512;
/** one window in this many uses the way that measured slower */
export const PROBE_EVERY = 16;
/** weight of a window's mean in its way's running mean */
const ALPHA = 0.25;

export class DirectPacing {
  /** the way of the current window: true for eager */
  eager: boolean;
  private readonly adaptive: boolean;
  /** completions of requests started in each way (batched, eager) and their latency (ms), since the way's last window closed */
  private readonly counts = [0, 0];
  private readonly sums = [0, 0];
  /** running mean latency (ms) of the batched way's windows, then the eager way's; NaN before the first */
  private readonly means = [Number.NaN, Number.NaN];
  private windows = 0;

  constructor(mode: DirectPacingMode) {
    this.adaptive = mode === 'adaptive';
    this.eager = mode !== 'batched';
  }

  /** The running mean latency (ms) of each way, for reports and tests. */
  get measured(): { batched: number; eager: number } {
    return { batched: this.means[0]!, eager: this.means[1]! };
  }

  /**
   * A request started in way `eager` completed `latency` ms after its start. It counts for its own way even
   * when the window is of the other: the requests still in flight when a window ends are its slowest, and
   * dropping them would flatter the way that was probed.
   */
  completed(eager: boolean, latency: number): void {
    if (!this.adaptive) return;
    const way = eager ? 1 : 0;
    this.sums[way]! += latency;
    if (++this.counts[way]! < WINDOW || eager !== this.eager) return;
    const mean = this.sums[way]! / this.counts[way]!;
    const before = this.means[way]!;
    this.means[way] = Number.isNaN(before) ? mean : before + ALPHA * (mean - before);
    this.counts[way] = 0;
    this.sums[way] = 0;
    this.windows++;
    this.eager = this.nextWay();
  }

  private nextWay(): boolean {
    const [batched, eager] = this.means as [number, number];
    if (Number.isNaN(eager)) return true;
    if (Number.isNaN(batched)) return false;
    // a tie goes to the batched way: fewer system calls
    const faster = eager < batched;
    return this.windows % PROBE_EVERY === 0 ? !faster : faster;
  }
}
