// Buffers for O_DIRECT files: their memory starts on `alignment` (default 4096), as the kernel requires.
import { alignedMemory } from '../adapters/adapter.js';
import { storageError } from '../ground/errors.js';

export function alignedBuffer(size: number, alignment = 4096): Buffer {
  if (!Number.isSafeInteger(size) || size < 0) throw storageError('EINVAL', `buffer size must be a non-negative integer, got ${size}`);
  if (!Number.isInteger(alignment) || alignment < 8 || (alignment & (alignment - 1)) !== 0) {
    throw storageError('EINVAL', `alignment must be a power of two of at least 8, got ${alignment}`);
  }
  return alignedMemory(size, alignment);
}
