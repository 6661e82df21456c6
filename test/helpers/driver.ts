import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { CsiClient } from '../../src/client/csi-client.js';
import type { Sandbox } from './sandbox.js';

export const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
export const NODE_ID = 'test-node';
export const TOPOLOGY_KEY = 'topology.dolly.csi.dev/node';

export interface DriverOptions {
  pool: string;
  args?: string[];
  /** Socket path; default: csi.sock in the sandbox. */
  socketPath?: string;
  /** Extra environment for the driver process (e.g. DOLLY_FAULT_CRASH), added to the harness's own. */
  env?: Record<string, string>;
}

/** For startExpectingFailure: also another copy of the driver's main script. */
export interface FailingDriverOptions extends DriverOptions {
  main?: string;
}

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A `dolly serve` process, started the way an operator starts it, and a client for its socket. */
export class Driver {
  readonly logs: LogLine[] = [];
  private stderrText = '';
  private readonly waiters = new Set<(line: LogLine | undefined) => void>();
  /** Resolves with the exit code (null when a signal ended the process) once the driver is gone. */
  readonly exited: Promise<number | null>;
  private clientInstance: CsiClient | undefined;

  private constructor(
    readonly child: ChildProcess,
    readonly socketPath: string,
  ) {
    this.exited = once(child, 'exit').then(([code]) => code as number | null);
    let pending = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const text of lines) {
        if (text.trim() === '') continue;
        const line = JSON.parse(text) as LogLine;
        this.logs.push(line);
        for (const waiter of this.waiters) waiter(line);
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (this.stderrText += chunk.toString('utf8')));
    child.once('exit', () => {
      for (const waiter of this.waiters) waiter(undefined);
    });
  }

  get stderr(): string {
    return this.stderrText;
  }

  get endpoint(): string {
    return `unix://${this.socketPath}`;
  }

  get client(): CsiClient {
    this.clientInstance ??= new CsiClient(this.endpoint);
    return this.clientInstance;
  }

  /** Starts the driver and waits until it serves; rejects with its stderr if it exits instead. */
  static async start(sandbox: Sandbox, options: DriverOptions): Promise<Driver> {
    const socketPath = options.socketPath ?? sandbox.path('csi.sock');
    const child = spawn(
      process.execPath,
      [
        MAIN,
        'serve',
        '--endpoint',
        `unix://${socketPath}`,
        '--pool',
        options.pool,
        '--node-id',
        NODE_ID,
        '--log-format',
        'json',
        ...(options.args ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } },
    );
    const driver = new Driver(child, socketPath);
    sandbox.onCleanup(async () => {
      await driver.stop();
    });
    await driver.waitForLog((line) => line.msg === 'dolly is serving CSI');
    return driver;
  }

  /** Resolves with the first log line (already seen or future) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    const seen = this.logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => done(undefined, new Error('timed out waiting for a log line')),
        timeoutMs,
      );
      const waiter = (line: LogLine | undefined): void => {
        if (line === undefined)
          done(undefined, new Error(`dolly exited before the expected log line: ${this.stderrText}`));
        else if (match(line)) done(line);
      };
      const done = (line: LogLine | undefined, error?: Error): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        if (line) resolve(line);
        else reject(error ?? new Error('no log line'));
      };
      this.waiters.add(waiter);
      if (this.child.exitCode !== null || this.child.signalCode !== null) waiter(undefined);
    });
  }

  /** True until the process has exited (by itself, a signal or a fault point). */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The signal that ended the process (e.g. SIGKILL from a fault point), once it has exited. */
  get exitSignal(): NodeJS.Signals | null {
    return this.child.signalCode;
  }

  /** kill -9, as a crash would end it: no cleanup, the socket file stays. Waits for the exit. */
  async kill(): Promise<void> {
    this.clientInstance?.close();
    this.clientInstance = undefined;
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Sends SIGTERM and waits for the exit code. Safe to call twice. */
  async stop(): Promise<number | null> {
    this.clientInstance?.close();
    this.clientInstance = undefined;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

/** Runs `dolly serve` expecting it to fail at start; resolves with its exit code and stderr. */
export async function startExpectingFailure(
  sandbox: Sandbox,
  options: FailingDriverOptions,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    [
      options.main ?? MAIN,
      'serve',
      '--endpoint',
      `unix://${options.socketPath ?? sandbox.path('fail.sock')}`,
      '--pool',
      options.pool,
      '--log-format',
      'json',
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  child.stdout.resume();
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stderr };
}
