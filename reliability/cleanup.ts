import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { Sandbox, mountsUnder } from '../test/helpers/sandbox.js';

const execFileAsync = promisify(execFile);

/**
 * Everything the harness creates is reachable from here, so that an interrupted or failed run
 * (SIGINT, an exception in a suite) still leaves no mount, loop device, frozen filesystem,
 * temporary directory or driver process behind.
 */
const live = new Set<Sandbox>();
/** Set once cleanupAll() begins: no sandbox or driver may start after it (a suite still running would). */
let closing = false;

export function isClosing(): boolean {
  return closing;
}

/** A sandbox (temporary directory) for one suite, cleaned up by release() or by cleanupAll(). */
export async function createSandbox(label: string): Promise<Sandbox> {
  if (closing) throw new Error('the run is ending: no new sandbox');
  const sandbox = await Sandbox.create(`rel-${label}`);
  live.add(sandbox);
  if (closing) {
    await release(sandbox);
    throw new Error('the run is ending: no new sandbox');
  }
  return sandbox;
}

/** Directories already released: swept once more at the very end (see sweepReleased). */
const released: string[] = [];

export async function release(sandbox: Sandbox): Promise<void> {
  live.delete(sandbox);
  released.push(sandbox.dir);
  await thawAllUnder(sandbox.dir);
  await sandbox.cleanup();
}

/**
 * After an interruption a suite keeps running until the process exits and may recreate a
 * directory in a sandbox already removed; this removes such remains (never below a mount).
 */
export async function sweepReleased(): Promise<void> {
  for (const dir of released) {
    if ((await mountsUnder(dir)).length === 0)
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Releases every sandbox still live; errors are collected, never stop the rest. */
export async function cleanupAll(): Promise<unknown[]> {
  closing = true;
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
