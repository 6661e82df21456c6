import { Driver } from './driver.js';
import { Sandbox } from './sandbox.js';

/** What most integration suites start from: a sandbox, a loop-mounted pool in it, a driver serving it. */
export interface DriverOnPool {
  sandbox: Sandbox;
  pool: string;
  driver: Driver;
}

/**
 * Makes the sandbox `label`, a pool of `poolBytes` (the filesystem the test run asks for:
 * scripts/run-tests.mjs) and starts a driver on it. The caller's after() cleans the sandbox up;
 * when a step fails, this cleans up what it made (the caller never gets the sandbox).
 */
export async function startDriverOnPool(label: string, poolBytes: number): Promise<DriverOnPool> {
  const sandbox = await Sandbox.create(label);
  try {
    const pool = await sandbox.pool('pool', poolBytes);
    const driver = await Driver.start(sandbox, { pool });
    return { sandbox, pool, driver };
  } catch (error) {
    await sandbox.cleanup();
    throw error;
  }
}
