import { pino } from 'pino';
import type { Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';
export type LogFormat = 'json' | 'text';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Structured logs: one JSON object per line for machines (the default when the output is not
 * a terminal), or coloured single lines for a person at a terminal.
 */
export function createLogger(options: { format?: LogFormat; level: LogLevel }): Logger {
  const format = options.format ?? (process.stdout.isTTY ? 'text' : 'json');
  const base = { level: options.level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (format === 'text') {
    return pino(
      base,
      pretty({ colorize: process.stdout.isTTY, singleLine: true, ignore: 'pid,hostname', sync: true }),
    );
  }
  return pino(base);
}

/** The plain function shape the storage engine logs through (it does not depend on pino). */
export function engineLog(logger: Logger): (message: string, fields?: Record<string, unknown>) => void {
  return (message, fields) => logger.info(fields ?? {}, message);
}
