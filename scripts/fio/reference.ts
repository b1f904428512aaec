// Reference ratios (mount throughput / backing-directory throughput) of two other FUSE file systems,
// measured on this machine (2 vCPU Firecracker VM) with the same kinds of fio jobs, medians of 3 rounds.
// Hard-coded: they are someone else's measurements to compare with, not something this script measures.
import type { JobId } from './jobs.js';

export interface ReferenceRatios {
  /** libfuse's passthrough_hp example (libfuse 3's low-level API) */
  passthroughHp: number;
  /** a minimal JavaScript passthrough on fuse-native, the binding persistfs uses */
  jsPassthrough: number;
}

export const REFERENCE_ATTRIBUTION =
  "reference ratios measured on this machine, medians of 3: libfuse's C passthrough_hp, and a minimal JS passthrough on fuse-native";

/** None for the verify job: it was not part of the reference runs. */
export const REFERENCE_RATIOS: Partial<Record<JobId, ReferenceRatios>> = {
  'seq-write-1m': { passthroughHp: 0.58, jsPassthrough: 0.47 },
  'seq-read-1m': { passthroughHp: 0.55, jsPassthrough: 0.66 },
  'randread-4k': { passthroughHp: 0.73, jsPassthrough: 0.32 },
  'randread-4k-4jobs': { passthroughHp: 0.62, jsPassthrough: 0.26 },
  'randwrite-4k': { passthroughHp: 0.62, jsPassthrough: 0.07 },
  create: { passthroughHp: 0.23, jsPassthrough: 0.1 },
  stat: { passthroughHp: 0.12, jsPassthrough: 0.02 },
  delete: { passthroughHp: 0.16, jsPassthrough: 0.07 },
};
