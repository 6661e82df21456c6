import { execFile } from 'node:child_process';
import { Code, DollyError } from '../errors.js';

export interface RunOptions {
  /** Kill the program after this long; host tools that hang must not hang an RPC forever. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Error code used when the program fails (default INTERNAL). */
  failureCode?: Code;
  /** Exit codes besides 0 that are answers, not failures (blkid's 2 for "nothing found"). */
  allowExitCodes?: number[];
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/**
 * Runs a host program with an argument array (never a shell). A failure becomes a DollyError
 * that names the command line and quotes its stderr, so the person reading the log knows what
 * the host said.
 */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const commandLine = [file, ...args].join(' ');
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        signal: options.signal,
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, LC_ALL: 'C' },
      },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ stdout, stderr, exitCode: 0 });
          return;
        }
        if (typeof error.code === 'number' && options.allowExitCodes?.includes(error.code)) {
          resolve({ stdout, stderr, exitCode: error.code });
          return;
        }
        const code = options.failureCode ?? Code.INTERNAL;
        const detail = stderr.trim() || stdout.trim() || error.message;
        let why: string;
        if ('code' in error && error.code === 'ENOENT') {
          why = `${file} is not installed (install the Debian package that provides it)`;
        } else if (error.killed || error.signal) {
          why = `\`${commandLine}\` was stopped (${error.signal ?? 'timeout'}) after ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`;
        } else {
          why = `\`${commandLine}\` failed: ${detail}`;
        }
        reject(
          new DollyError(options.signal?.aborted ? Code.DEADLINE_EXCEEDED : code, why, { cause: error }),
        );
      },
    );
  });
}
