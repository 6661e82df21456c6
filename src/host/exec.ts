import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
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
const env = (): NodeJS.ProcessEnv => ({ ...process.env, LC_ALL: 'C' });

interface Failure {
  notInstalled: boolean;
  /** The signal that stopped the program (ours, on timeout or abort), if it was stopped. */
  stoppedBy: string | undefined;
  detail: string;
  cause: unknown;
}

/** The error for a program that failed: names the command line and quotes what the host said. */
function failure(file: string, args: readonly string[], options: RunOptions, what: Failure): DollyError {
  const commandLine = [file, ...args].join(' ');
  let why: string;
  if (what.notInstalled) {
    why = `${file} is not installed (install the Debian package that provides it)`;
  } else if (what.stoppedBy !== undefined) {
    why = `\`${commandLine}\` was stopped (${what.stoppedBy}) after ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`;
  } else {
    why = `\`${commandLine}\` failed: ${what.detail}`;
  }
  const code = options.signal?.aborted ? Code.DEADLINE_EXCEEDED : (options.failureCode ?? Code.INTERNAL);
  return new DollyError(code, why, { cause: what.cause });
}

/**
 * Runs a host program with an argument array (never a shell). A failure becomes a DollyError
 * that names the command line and quotes its stderr, so the person reading the log knows what
 * the host said.
 */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        signal: options.signal,
        maxBuffer: 16 * 1024 * 1024,
        env: env(),
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
        reject(
          failure(file, args, options, {
            notInstalled: 'code' in error && error.code === 'ENOENT',
            stoppedBy: error.killed || error.signal ? (error.signal ?? 'timeout') : undefined,
            detail: stderr.trim() || stdout.trim() || error.message,
            cause: error,
          }),
        );
      },
    );
  });
}

export interface RunLinesOptions extends RunOptions {
  /** Open file descriptors of this process that the program inherits as its fds 3, 4, … */
  passFds?: readonly number[];
}

/** What runLines keeps of stderr for the error message; a program that floods it is not stalled. */
const STDERR_KEPT_CHARS = 64 * 1024;

/**
 * Runs a host program like `run`, but hands its stdout to `onLine` one line at a time instead of
 * buffering it: for output that grows with the data (an extent map has a line per extent, and
 * an image can have millions). If `onLine` throws, the program is killed and the promise
 * rejects with that error.
 */
export function runLines(
  file: string,
  args: readonly string[],
  onLine: (line: string) => void,
  options: RunLinesOptions = {},
): Promise<{ stderr: string; exitCode: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe', ...(options.passFds ?? [])],
      signal: options.signal,
      env: env(),
    });
    // Our own timer, not spawn's `timeout`: that one is never cleared when the program cannot
    // start, and would hold the process open for the whole timeout.
    const timer = setTimeout(() => child.kill(), options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    // Pipes by the stdio above; the types cannot see that once extra fds are spread in.
    const { stdout, stderr: stderrStream } = child as typeof child & { stdout: Readable; stderr: Readable };
    let stderr = '';
    let lineError: Error | undefined;
    let spawnError: (Error & { code?: unknown }) | undefined;
    stderrStream.setEncoding('utf8');
    stderrStream.on('data', (chunk: string) => {
      if (stderr.length < STDERR_KEPT_CHARS) stderr += chunk.slice(0, STDERR_KEPT_CHARS - stderr.length);
    });
    const lines = createInterface({ input: stdout, crlfDelay: Infinity });
    lines.on('line', (line) => {
      if (lineError !== undefined) return;
      try {
        onLine(line);
      } catch (error) {
        lineError = error instanceof Error ? error : new Error(String(error));
        lines.close();
        child.kill();
      }
    });
    child.on('error', (error) => {
      spawnError = error;
    });
    // 'close' comes after stdout has ended, so every line has been handed to onLine.
    child.on('close', (exitCode: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      if (lineError !== undefined) {
        reject(lineError);
      } else if (exitCode === 0 || (exitCode !== null && options.allowExitCodes?.includes(exitCode))) {
        resolve({ stderr, exitCode });
      } else {
        reject(
          failure(file, args, options, {
            notInstalled: spawnError?.code === 'ENOENT',
            stoppedBy: signal ?? (child.killed ? 'timeout' : undefined),
            detail: stderr.trim() || spawnError?.message || `exit code ${String(exitCode)}`,
            cause: spawnError,
          }),
        );
      }
    });
  });
}
