// Configuration: defaults, then a JSON file, then environment variables, then explicit overrides (CLI
// flags). The IO mode and every tunable come from here, never from the callers of the storage API.
import fs from 'node:fs';

import { storageError } from '../ground/errors.js';
import { LOG_FORMATS, type LogFormat } from '../ground/log-format.js';

export type IoModeSetting = 'auto' | 'io_uring' | 'sync';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type { LogFormat };

export interface Config {
  /** auto: io_uring when the kernel allows it, else sync with a logged warning. */
  ioMode: IoModeSetting;
  /** io_uring submission queue entries, and the most requests in the kernel at once. */
  queueDepth: number;
  /** prepared requests that trigger a submit before the end of the tick. */
  submitThreshold: number;
  logLevel: LogLevel;
  /** auto: human-readable lines when stderr is a terminal, JSON lines otherwise; pretty or json forces one. */
  logFormat: LogFormat;
}

export const DEFAULTS: Config = { ioMode: 'auto', queueDepth: 256, submitThreshold: 32, logLevel: 'info', logFormat: 'auto' };

const ENV: Record<keyof Config, string> = {
  ioMode: 'PERSISTFS_IO_MODE',
  queueDepth: 'PERSISTFS_QUEUE_DEPTH',
  submitThreshold: 'PERSISTFS_SUBMIT_THRESHOLD',
  logLevel: 'PERSISTFS_LOG_LEVEL',
  logFormat: 'PERSISTFS_LOG_FORMAT',
};

const IO_MODES: readonly string[] = ['auto', 'io_uring', 'sync'];
const LOG_LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function invalid(key: string, value: unknown, expected: string, source: string): never {
  throw storageError('EINVAL', `configuration ${key}=${JSON.stringify(value)} from ${source}: expected ${expected}`);
}

function validated(key: keyof Config, value: unknown, source: string): Config[keyof Config] {
  switch (key) {
    case 'ioMode':
      if (typeof value !== 'string' || !IO_MODES.includes(value)) invalid(key, value, IO_MODES.join(' | '), source);
      return value as IoModeSetting;
    case 'logLevel':
      if (typeof value !== 'string' || !LOG_LEVELS.includes(value)) invalid(key, value, LOG_LEVELS.join(' | '), source);
      return value as LogLevel;
    case 'logFormat':
      if (typeof value !== 'string' || !(LOG_FORMATS as readonly string[]).includes(value)) invalid(key, value, LOG_FORMATS.join(' | '), source);
      return value as LogFormat;
    case 'queueDepth':
    case 'submitThreshold': {
      const n = typeof value === 'string' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 4096) {
        invalid(key, value, 'an integer from 1 to 4096', source);
      }
      return n;
    }
  }
}

function merge(into: Config, values: Record<string, unknown>, source: string): void {
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (!(key in DEFAULTS)) {
      throw storageError('EINVAL', `unknown configuration key '${key}' in ${source}; known: ${Object.keys(DEFAULTS).join(', ')}`);
    }
    (into as unknown as Record<string, unknown>)[key] = validated(key as keyof Config, value, source);
  }
}

export interface ConfigSources {
  /** a JSON file with any of the Config keys; PERSISTFS_CONFIG names one too */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  overrides?: Partial<Config>;
}

export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? process.env;
  const config: Config = { ...DEFAULTS };
  const file = sources.file ?? env.PERSISTFS_CONFIG;
  if (file) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      // not Node's message, which names the file too: its code, and the path once
      throw storageError((error as NodeJS.ErrnoException).code ?? 'EIO', 'cannot read the configuration file', { path: file, cause: error });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw storageError('EINVAL', `the configuration file is not JSON (${(error as Error).message})`, { path: file });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw storageError('EINVAL', 'configuration file must hold a JSON object', { path: file });
    }
    merge(config, parsed as Record<string, unknown>, file);
  }
  const fromEnv: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(ENV)) fromEnv[key] = env[name] === '' ? undefined : env[name];
  merge(config, fromEnv, 'the environment');
  merge(config, (sources.overrides ?? {}) as Record<string, unknown>, 'the command line');
  return config;
}
