import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Sandbox, mountsUnder } from '../test/helpers/sandbox.js';

const execFileAsync = promisify(execFile);

/**
 * Everything the harness creates is reachable from here, so that an interrupted or failed run
 * (SIGINT, an exception in a suite) still leaves no mount, loop device, frozen filesystem,
 * temporary directory or driver process behind.
 */
const live = new Set<Sandbox>();

/** A sandbox (temporary directory) for one suite, cleaned up by release() or by cleanupAll(). */
export async function createSandbox(label: string): Promise<Sandbox> {
  const sandbox = await Sandbox.create(`rel-${label}`);
  live.add(sandbox);
  return sandbox;
}

export async function release(sandbox: Sandbox): Promise<void> {
  live.delete(sandbox);
  await thawAllUnder(sandbox.dir);
  await sandbox.cleanup();
}

/** Releases every sandbox still live; errors are collected, never stop the rest. */
export async function cleanupAll(): Promise<unknown[]> {
  const errors: unknown[] = [];
  for (const sandbox of [...live]) await release(sandbox).catch((error: unknown) => errors.push(error));
  return errors;
}

/**
 * Thaws every filesystem mounted below `dir`: unmounting a frozen filesystem blocks until it is
 * thawed, so this must run before the sandbox unmounts. Thawing one that is not frozen fails
 * harmlessly (EINVAL).
 */
export async function thawAllUnder(dir: string): Promise<void> {
  for (const point of await mountsUnder(dir)) {
    await execFileAsync('fsfreeze', ['--unfreeze', point], { timeout: 30_000 }).catch(() => undefined);
  }
}
