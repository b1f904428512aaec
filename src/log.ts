// The structured logger (pino), always on stderr (fd 2) so that stdout stays for program output. Its
// lines are JSON, one object a line, for collectors and files; on a terminal they are human-readable
// instead (pino-pretty: time, level word, message, fields). `format` forces one or the other.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

import type { LogFormat } from './ground/log-format.js';

export type { Logger };
export { LOG_FORMATS, type LogFormat } from './ground/log-format.js';

/** Whether `format` comes out pretty here: 'auto' asks whether stderr is a terminal. */
export function isPretty(format: LogFormat, stderrIsTTY = process.stderr.isTTY === true): boolean {
  return format === 'pretty' || (format === 'auto' && stderrIsTTY);
}

export function createLogger(level: string, name = 'persistfs', format: LogFormat = 'auto'): Logger {
  if (!isPretty(format)) return pino({ name, level }, pino.destination(2));
  // synchronous writes to fd 2, as pino.destination(2) makes them: a line logged before process.exit is
  // not lost; colours only on a terminal (and not with NO_COLOR)
  const colorize = process.stderr.isTTY === true && !process.env.NO_COLOR;
  return pino({ name, level }, pretty({ destination: 2, sync: true, colorize, translateTime: 'SYS:HH:MM:ss.l', ignore: 'hostname' }));
}
