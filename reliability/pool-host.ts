import { mkdir } from 'node:fs/promises';
import { CsiClient } from '../src/client/csi-client.js';
import { readMountInfo } from '../src/host/mountinfo.js';
import { Driver } from '../test/helpers/driver.js';
import type { Sandbox } from '../test/helpers/sandbox.js';
import { createSandbox, isClosing, release } from './cleanup.js';
import type { PoolFs } from './types.js';

export interface PoolHostOptions {
  /** Size of the loop-mounted pool. */
  poolBytes: number;
  /** Its filesystem, hence the backend under test. */
  poolFs: PoolFs;
  /** Clients (separate connections) the suite sends from, like several sidecars. */
  clients?: number;
  /** Directories between the sandbox and the pool, so the pool has ancestors inside the sandbox. */
  poolParents?: string[];
}

/**
 * One suite's world: a sandbox, a real loop-mounted pool (XFS or btrfs) in it, a `dolly serve` on that
 * pool, and clients on its socket. The driver can be killed (kill -9) and started again on
 * the same pool and socket, with or without a fault point armed.
 */
export class PoolHost {
  private current: Driver | undefined;
  private clientList: CsiClient[] = [];
  /** Driver starts, the first one included. */
  starts = 0;
  /** The pool's own mount (mountinfo ID): anything else mounted at or over the pool is a fault. */
  poolMountId = -1;

  private constructor(
    readonly sandbox: Sandbox,
    readonly pool: string,
    private readonly clientCount: number,
  ) {}

  static async create(label: string, options: PoolHostOptions): Promise<PoolHost> {
    const sandbox = await createSandbox(label);
    try {
      const parents = options.poolParents ?? [];
      if (parents.length > 0) await mkdir(sandbox.path(...parents), { recursive: true });
      const name = [...parents, 'pool'].join('/');
      const pool =
        options.poolFs === 'btrfs'
          ? await sandbox.btrfsPool(name, options.poolBytes)
          : await sandbox.xfsPool(name, options.poolBytes);
      // Staging and target paths live here (see World).
      await mkdir(sandbox.path('node'));
      const host = new PoolHost(sandbox, pool, options.clients ?? 1);
      host.poolMountId =
        (await readMountInfo()).filter((entry) => entry.mountPoint === pool).at(-1)?.id ?? -1;
      await host.start();
      return host;
    } catch (error) {
      await release(sandbox);
      throw error;
    }
  }

  get driver(): Driver {
    if (!this.current) throw new Error('the driver is not running');
    return this.current;
  }

  get endpoint(): string {
    return `unix://${this.sandbox.path('csi.sock')}`;
  }

  /** Client number `index` (modulo the count); new ones after every start. */
  client(index = 0): CsiClient {
    const client = this.clientList[index % this.clientList.length];
    if (!client) throw new Error('no client: the driver was never started');
    return client;
  }

  /** Starts the driver; `env` arms a fault point (DOLLY_FAULT_CRASH). */
  async start(env: Record<string, string> = {}): Promise<void> {
    if (this.current?.running) throw new Error('the driver is already running');
    // Interrupted: a driver started now would outlive the cleanup (and, finding the pool
    // unmounted, make an embedded pool in its directory).
    if (isClosing()) throw new Error('the run is ending: no new driver');
    this.current = await Driver.start(this.sandbox, { pool: this.pool, env });
    this.starts += 1;
    // Calls still retrying on the old clients fail over to the new ones; closing the old ones
    // before would cancel calls in flight, which is not an answer from the driver.
    const old = this.clientList;
    // Own subchannels: grpc-js otherwise shares them between channels to one address, and a new
    // client would inherit the old one's reconnect backoff from the driver's downtime.
    this.clientList = Array.from(
      { length: this.clientCount },
      () => new CsiClient(this.endpoint, { 'grpc.use_local_subchannel_pool': 1 }),
    );
    setTimeout(() => old.forEach((client) => client.close()), 5_000).unref();
  }

  /** kill -9 (when still running) and start again on the same pool. */
  async restart(env: Record<string, string> = {}): Promise<void> {
    await this.current?.kill();
    await this.start(env);
  }

  async kill(): Promise<void> {
    await this.current?.kill();
  }

  get running(): boolean {
    return this.current?.running ?? false;
  }

  private closeClients(): void {
    for (const client of this.clientList) client.close();
    this.clientList = [];
  }

  /** Stops the driver and removes everything the suite made (mounts, loops, the sandbox). */
  async dispose(): Promise<void> {
    this.closeClients();
    await this.current?.stop();
    await release(this.sandbox);
  }
}
