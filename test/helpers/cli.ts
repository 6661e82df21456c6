import { spawn } from 'node:child_process';
import { MAIN } from './driver.js';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `dolly` command as a user would, against the driver at `socketPath`. */
export function dolly(
  socketPath: string,
  args: string[],
  options: { stdin?: string; env?: Record<string, string>; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, '--socket', socketPath, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      ...(options.cwd !== undefined && { cwd: options.cwd }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

/** Runs `dolly` and fails the test with its output unless it exits 0. */
export async function dollyOk(
  socketPath: string,
  args: string[],
  options: Parameters<typeof dolly>[2] = {},
): Promise<string> {
  const result = await dolly(socketPath, args, options);
  if (result.code !== 0) {
    throw new Error(
      `dolly ${args.join(' ')} exited ${String(result.code ?? result.signal)}:\n${result.stderr}${result.stdout}`,
    );
  }
  return result.stdout;
}

/** Runs `dolly ... --json` and parses what it prints. */
export async function dollyJson<T>(socketPath: string, args: string[]): Promise<T> {
  return JSON.parse(await dollyOk(socketPath, [...args, '--json'])) as T;
}
