// Chooses the IO engine from configuration. 'auto' tries io_uring and falls back to sync, saying why.
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { IoEngine } from './engine.js';
import { SyncEngine } from './sync-engine.js';
import { UringEngine } from './uring-engine.js';

export function createEngine(config: Pick<Config, 'ioMode' | 'queueDepth' | 'submitThreshold'>, logger?: Logger): IoEngine {
  if (config.ioMode === 'sync') return new SyncEngine();
  try {
    return new UringEngine({ queueDepth: config.queueDepth, submitThreshold: config.submitThreshold });
  } catch (error) {
    if (config.ioMode === 'io_uring') throw error;
    logger?.warn(
      { err: error },
      `io_uring is not available here (${(error as Error).message}); using the sync IO mode. ` +
        'Set ioMode to sync to silence this, or check /proc/sys/kernel/io_uring_disabled and seccomp.',
    );
    return new SyncEngine();
  }
}
