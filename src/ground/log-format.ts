// The log's formats, apart from the logger (src/log.ts) so that what only names them (the configuration,
// the command line's options) does not load pino and pino-pretty.

/** 'auto': pretty when stderr is a terminal, JSON otherwise. */
export type LogFormat = 'auto' | 'pretty' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['auto', 'pretty', 'json'];
