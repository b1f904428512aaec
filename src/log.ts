// The structured logger (pino, to stderr so stdout stays for program output).
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name = 'persistfs'): Logger {
  return pino({ name, level }, pino.destination(2));
}
