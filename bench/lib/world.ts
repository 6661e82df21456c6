import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CsiClient } from '../../src/client/csi-client.js';
import type { VolumeCapability } from '../../src/generated/csi/v1/VolumeCapability.js';
import { run } from '../../src/host/exec.js';
import { Driver } from '../../test/helpers/driver.js';
import type { Sandbox } from '../../test/helpers/sandbox.js';
import { blockCapability, mountCapability } from '../../test/helpers/csi.js';
import { createSandbox, release } from './cleanup.js';
import { makePool } from './pools.js';
import type { Backend } from './pools.js';
import { timed } from './timing.js';
import { imageInSync } from '../../src/pool/layout.js';
import { stageAndPublishAt } from '../../test/helpers/node.js';

export interface Published {
  id: string;
  capability: VolumeCapability;
  staging: string;
  /** The directory (filesystem volume) or device file (block volume) the application uses. */
  target: string;
}

/**
 * One backend's world: a sandbox, a loop-mounted pool of that filesystem in it, a `dolly serve`
 * on the pool (started the way an operator starts it) and a client on its socket. Every case
 * talks to the driver only through CSI; it reads the pool's files only to measure them.
 */
export class World {
  private current: Driver | undefined;
  private labels = 0;

  private constructor(
    readonly backend: Backend,
    readonly sandbox: Sandbox,
    readonly pool: string,
  ) {}

  static async create(backend: Backend, label: string, poolBytes: number): Promise<World> {
    const sandbox = await createSandbox(`${label}-${backend}`);
    try {
      const pool = await makePool(sandbox, backend, 'pool', poolBytes);
      await mkdir(sandbox.path('node'));
      const world = new World(backend, sandbox, pool);
      await world.start();
      return world;
    } catch (error) {
      await release(sandbox);
      throw error;
    }
  }

  get driver(): Driver {
    if (!this.current) throw new Error('the driver is not running');
    return this.current;
  }

  get client(): CsiClient {
    return this.driver.client;
  }

  /** Starts the driver; resolves with the milliseconds from spawn to "serving". */
  async start(): Promise<number> {
    const { ms, value } = await timed(() => Driver.start(this.sandbox, { pool: this.pool }));
    this.current = value;
    return ms;
  }

  async stop(): Promise<void> {
    await this.current?.stop();
    this.current = undefined;
  }

  async close(): Promise<void> {
    await this.stop();
    await release(this.sandbox);
  }

  /**
   * Gives the blocks the pool freed back to the host (fstrim: the loop device punches holes in
   * the pool's image). A loop-mounted pool never shrinks otherwise: every gigabyte a case wrote
   * and deleted would stay taken on the host filesystem, which other work shares.
   */
  async trim(): Promise<void> {
    await run('fstrim', [this.pool]);
  }

  imagePath(volumeId: string): string {
    return imageInSync(join(this.pool, 'volumes', volumeId));
  }

  /** A fresh path in the sandbox (not in the pool) for staging and targets. */
  nodePath(prefix: string): string {
    this.labels += 1;
    return this.sandbox.path('node', `${prefix}-${this.labels}`);
  }

  async createVolume(name: string, sizeBytes: number, mode: 'block' | 'mount'): Promise<string> {
    const { volume } = await this.client.createVolume({
      name,
      volume_capabilities: mode === 'block' ? blockCapability() : mountCapability(),
      capacity_range: { required_bytes: sizeBytes },
    });
    if (!volume) throw new Error(`CreateVolume ${name} answered no volume`);
    return volume.volume_id;
  }

  /** CreateVolume from a volume; resolves with the new ID and the call's milliseconds. */
  async clone(
    name: string,
    sourceId: string,
    mode: 'block' | 'mount',
    parameters: Record<string, string> = {},
  ): Promise<{ id: string; ms: number }> {
    const { ms, value } = await timed(() =>
      this.client.createVolume({
        name,
        volume_capabilities: mode === 'block' ? blockCapability() : mountCapability(),
        volume_content_source: { volume: { volume_id: sourceId } },
        parameters,
      }),
    );
    if (!value.volume) throw new Error(`CreateVolume ${name} answered no volume`);
    return { id: value.volume.volume_id, ms };
  }

  async snapshot(name: string, sourceId: string): Promise<{ id: string; ms: number }> {
    const { ms, value } = await timed(() => this.client.createSnapshot({ name, source_volume_id: sourceId }));
    if (!value.snapshot) throw new Error(`CreateSnapshot ${name} answered no snapshot`);
    return { id: value.snapshot.snapshot_id, ms };
  }

  async deleteVolume(id: string): Promise<void> {
    await this.client.deleteVolume({ volume_id: id });
  }

  async deleteSnapshot(id: string): Promise<void> {
    await this.client.deleteSnapshot({ snapshot_id: id });
  }

  /** NodeStageVolume + NodePublishVolume, as the kubelet does before it starts a pod. */
  async publish(id: string, mode: 'block' | 'mount'): Promise<Published> {
    const capability = (mode === 'block' ? blockCapability() : mountCapability())[0]!;
    const { staging, target } = await stageAndPublishAt(
      this.client,
      id,
      capability,
      this.nodePath('staging'),
      this.nodePath('target'),
    );
    return { id, capability, staging, target };
  }

  async unpublish(published: Published): Promise<void> {
    await this.client.nodeUnpublishVolume({ volume_id: published.id, target_path: published.target });
    await this.client.nodeUnstageVolume({ volume_id: published.id, staging_target_path: published.staging });
  }
}
