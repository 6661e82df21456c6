import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Sandbox, mountsUnder } from '../../test/helpers/sandbox.js';

const execFileAsync = promisify(execFile);

/**
 * Every sandbox the bench makes is registered here, so that a failed or interrupted run
 * (SIGINT, an exception in a case) still leaves no mount, loop device, frozen filesystem,
 * temporary directory or process behind.
 */
const live = new Set<Sandbox>();
let closing = false;

/** A temporary directory (/tmp/dolly-test-bench-<label>-*) released by release() or cleanupAll(). */
export async function createSandbox(label: string): Promise<Sandbox> {
  if (closing) throw new Error('the run is ending: no new sandbox');
  const sandbox = await Sandbox.create(`bench-${label}`);
  live.add(sandbox);
  return sandbox;
}

/** Stops what the sandbox started, thaws, unmounts and detaches what is below it, removes it. */
export async function release(sandbox: Sandbox): Promise<void> {
  live.delete(sandbox);
  // Unmounting a frozen filesystem blocks until it is thawed (a run killed inside a clone).
  for (const point of await mountsUnder(sandbox.dir)) {
    await execFileAsync('fsfreeze', ['--unfreeze', point], { timeout: 30_000 }).catch(() => undefined);
  }
  await sandbox.cleanup();
}

/** Releases every sandbox still live; errors are collected and never stop the rest. */
export async function cleanupAll(): Promise<unknown[]> {
  closing = true;
  const errors: unknown[] = [];
  for (const sandbox of [...live]) await release(sandbox).catch((error: unknown) => errors.push(error));
  return errors;
}
