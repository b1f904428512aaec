// Loaded into a mount process by the kernel transport's test (node --import): its session refuses, by
// throwing as the native side does for a body it cannot send, any reply whose body holds the bytes of
// REFUSED_REPLY_MARK (an environment variable). The mount must still answer that request (EIO) instead of
// leaving its caller waiting.
import { native } from '../../src/io/native.js';

const mark = process.env.REFUSED_REPLY_MARK;
if (!mark) throw new Error('refused-reply: REFUSED_REPLY_MARK is not set');

const Session = native.FuseSession;
native.FuseSession = class extends Session {
  override reply(unique: number, error: number, ...parts: Uint8Array[]): number {
    if (parts.some((part) => Buffer.from(part.buffer, part.byteOffset, part.byteLength).includes(mark)))
      throw new TypeError('refused-reply: this body is refused (a test)');
    return super.reply(unique, error, ...parts);
  }
};
