import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger } from 'pino';
export type LogFormat = 'json' | 'text';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Structured logs: one JSON object per line for machines (the default when the output is not
 * a terminal), or coloured single lines for a person at a terminal.
 */
export async function createLogger(options: { format?: LogFormat; level: LogLevel }): Promise<Logger> {
  const format = options.format ?? (process.stdout.isTTY ? 'text' : 'json');
  const base = { level: options.level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (format === 'text') {
    // Loaded only here: a driver logging JSON (in a pod, its stdout is not a terminal) does not
    // keep pino-pretty and its dependencies in memory.
    const { default: pretty } = await import('pino-pretty');
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
