import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, readdir, rename, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Code,
  DollyError,
  alreadyExists,
  errnoCode,
  internal,
  invalidArgument,
  notFound,
  toDollyError,
} from '../errors.js';
import { OperationGate } from '../util/operation-gate.js';
import { throwIfAborted } from '../util/deadline.js';
import { faultPoint } from '../util/fault.js';
import { fsyncPath } from '../util/atomic-file.js';
import { mapLimited } from '../util/map-limited.js';
import { createSparseFile, growFile } from '../util/sparse-file.js';
import { exists, statIfExists } from '../util/stat-if-exists.js';
import { chooseExpandedSize, chooseVolumeSize, fitsRange, volumeMinimum } from './capacity.js';
import type { CapacityRange } from './capacity.js';
import {
  isSnapshotId,
  isVolumeId,
  legacyIdOf,
  nodeOfId,
  snapshotIdForName,
  validateName,
  volumeIdForName,
} from './ids.js';
import type { SnapshotId, VolumeId } from './ids.js';
import { META_FILE, PoolLayout, imageIn } from './layout.js';
import { readMeta, readSnapshotMeta, writeMeta, writeMetaInWork } from './meta.js';
import type {
  CommonMetaFields,
  ContentSource,
  FsType,
  SnapshotMeta,
  VolumeMeta,
  VolumeMode,
} from './meta.js';
import type { PreparedPool } from './prepare.js';
import { Durability } from './durability.js';
import { Freezer } from './freeze.js';
import type { CopyConsistency } from './freeze.js';
import { imageUsers } from './in-use.js';
import type { PoolBackend } from './backends/backend.js';
import { backendFor } from './backends/choose.js';
import { formatSize } from './sizes.js';

export const DEFAULT_FS_TYPE: FsType = 'ext4';

/** Records read at once by a listing: enough to overlap the reads, few enough to bound memory. */
const READS_IN_FLIGHT = 16;

/** What a caller asks for when creating a volume; the pool decides the rest. */
export interface VolumeRequest {
  name: string;
  capacity: CapacityRange;
  mode: VolumeMode;
  /** undefined: inherit the source's filesystem, or the default (ext4) for a new volume. */
  fsType: FsType | undefined;
  parameters: Record<string, string>;
  source: ContentSource | undefined;
  /** How a copy of a source in use is taken; ignored without a source. */
  consistency: CopyConsistency;
}

export interface PoolStats {
  totalBytes: number;
  availableBytes: number;
}

type Logger = (message: string, fields?: Record<string, unknown>) => void;

/**
 * The storage engine: volumes are sparse image files, each in its own directory; a clone is a
 * copy-on-write copy of the source's image — one reflink, or on btrfs one snapshot of the
 * subvolume that holds it (backends/). It knows nothing of gRPC; its errors carry the status code
 * that fits the reason.
 */
export class Pool {
  readonly layout: PoolLayout;
  private readonly gate = new OperationGate();
  private readonly freezer: Freezer;
  private readonly rootDevice: number;

  private constructor(
    readonly prepared: PreparedPool,
    rootDevice: number,
    readonly log: Logger,
    /** This node's ID: part of every ID this pool gives (ids.ts). */
    readonly node: string,
    readonly backend: PoolBackend,
    readonly durability: Durability,
  ) {
    this.layout = new PoolLayout(prepared.root);
    this.rootDevice = rootDevice;
    const { root, volumesDir, snapshotsDir, tmpDir, trashDir } = this.layout;
    this.freezer = new Freezer(
      this.layout.frozenDir,
      [root, volumesDir, snapshotsDir, tmpDir, trashDir],
      log,
    );
  }

  /** Opens a prepared pool: creates its directories and clears work left by a crash. */
  static async open(prepared: PreparedPool, log: Logger, node: string): Promise<Pool> {
    const layout = new PoolLayout(prepared.root);
    // First of all: a driver killed inside a copy may have left a volume in use frozen.
    await Freezer.recover(layout.frozenDir, log);
    const backend = await backendFor(prepared.root);
    for (const dir of [
      layout.volumesDir,
      layout.snapshotsDir,
      layout.tmpDir,
      layout.trashDir,
      layout.stagedDir,
    ]) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    }
    for (const dir of [layout.tmpDir, layout.trashDir]) {
      const leftovers = await readdir(dir);
      if (leftovers.length > 0)
        log('removing work left by an earlier run', { dir, entries: leftovers.length });
      await Promise.all(leftovers.map((entry) => backend.remove(join(dir, entry))));
    }
    await reconcileSizes(layout, backend, log);
    await fsyncPath(prepared.root);
    const durability = await Durability.of(prepared);
    return new Pool(prepared, (await stat(prepared.root)).dev, log, node, backend, durability);
  }

  get root(): string {
    return this.layout.root;
  }

  /** The ID for a name: this node's form, or the Dolly 0.1 form when the pool holds that object. */
  private async idForName<Id extends VolumeId | SnapshotId>(
    id: Id,
    existsAt: (legacy: Id) => Promise<boolean>,
  ): Promise<Id> {
    const legacy = legacyIdOf(id);
    return legacy !== undefined && (await existsAt(legacy)) ? legacy : id;
  }

  /**
   * A copy is made in the pool that holds its source. A source whose ID names another node
   * cannot be copied here: RESOURCE_EXHAUSTED (the CSI answer for "cannot be provisioned in
   * this topology"), naming the node that holds it, so the CO can schedule the consumer there.
   */
  private assertHeldHere(source: ContentSource): void {
    const id = sourceKey(source);
    const node = nodeOfId(id);
    if (node === undefined || node === this.node) return;
    throw new DollyError(
      Code.RESOURCE_EXHAUSTED,
      `the source ${source.kind} ${id} is on node ${node}, and a clone or restore is made on the node that holds its source; this is node ${this.node}. Run the consumer of the new volume on node ${node} (e.g. pod affinity to the source's consumer, or a nodeSelector kubernetes.io/hostname=${node})`,
    );
  }

  /** For a NOT_FOUND message: where an ID of another node lives. */
  private elsewhere(id: VolumeId | SnapshotId): string {
    const node = nodeOfId(id);
    return node !== undefined && node !== this.node
      ? ` on this node (${this.node}); it is on node ${node}`
      : '';
  }

  /**
   * Runs an operation on a volume in turn with every other operation on it (controller and
   * node alike); an identical request in flight is joined.
   */
  serialize<T>(
    id: VolumeId,
    fingerprint: string,
    signal: AbortSignal | undefined,
    operation: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    return this.gate.run(id, fingerprint, signal, operation);
  }

  /**
   * Creates a volume, empty or as a clone of `request.source`. Idempotent by name: a request
   * compatible with an existing volume of that name returns it; an incompatible one fails with
   * ALREADY_EXISTS. A failure leaves nothing behind.
   */
  async createVolume(request: VolumeRequest, signal?: AbortSignal): Promise<VolumeMeta> {
    validateName(request.name);
    if (request.source) this.assertHeldHere(request.source);
    const id = await this.idForName(volumeIdForName(request.name, this.node), (legacy) =>
      exists(this.layout.volumeDir(legacy)),
    );
    // The source is held shared: copies of it run together, an expansion or delete waits.
    const sourceKeys = request.source ? [sourceKey(request.source)] : [];
    return this.gate.run(
      id,
      `create:${fingerprint(request)}`,
      signal,
      async (opSignal) => {
        const existing = await this.getVolume(id);
        if (existing) {
          assertCompatible(existing, request);
          return existing;
        }
        return this.buildVolume(id, request, opSignal);
      },
      sourceKeys,
    );
  }

  /** Deletes a volume; a volume that does not exist is already deleted (OK). */
  deleteVolume(id: VolumeId, signal?: AbortSignal): Promise<void> {
    return this.gate.run(id, 'delete', signal, async () => {
      const users = await imageUsers(await this.layout.volumeImage(id));
      if (users.devices.length > 0) {
        const where = users.mountPoints.length > 0 ? `, mounted at ${users.mountPoints.join(', ')}` : '';
        throw new DollyError(
          Code.FAILED_PRECONDITION,
          `volume ${id} is in use on this node (attached to ${users.devices.join(', ')}${where}); unpublish and unstage it first`,
        );
      }
      await this.discard(this.layout.volumeDir(id), this.layout.volumesDir, id);
    });
  }

  /**
   * Takes a snapshot of a volume: a read-only copy-on-write copy of its image (a reflink, or a
   * read-only subvolume snapshot), instant and free until either side is written. A volume in
   * use on this node is frozen for that instant, unless the request asks for a crash-consistent
   * copy.
   * Idempotent by name: the same name and source returns the snapshot, another source is
   * ALREADY_EXISTS.
   */
  async createSnapshot(
    request: {
      name: string;
      sourceVolumeId: VolumeId;
      parameters: Record<string, string>;
      consistency: CopyConsistency;
    },
    signal?: AbortSignal,
  ): Promise<SnapshotMeta> {
    validateName(request.name);
    const id = await this.idForName(snapshotIdForName(request.name, this.node), (legacy) =>
      exists(this.layout.snapshotDir(legacy)),
    );
    const sourceKeys = [request.sourceVolumeId];
    return this.gate.run(
      id,
      `snapshot:${request.sourceVolumeId}`,
      signal,
      async (opSignal) => {
        const existing = await this.getSnapshot(id);
        if (existing) {
          if (existing.sourceVolumeId !== request.sourceVolumeId) {
            throw alreadyExists(
              `a snapshot named ${JSON.stringify(request.name)} already exists (${id}) of volume ${existing.sourceVolumeId}, not ${request.sourceVolumeId}`,
            );
          }
          return existing;
        }
        const source = await this.getVolume(request.sourceVolumeId);
        if (!source)
          throw notFound(
            `source volume ${request.sourceVolumeId} does not exist${this.elsewhere(request.sourceVolumeId)}`,
          );
        const meta: SnapshotMeta = {
          version: 1,
          id,
          name: request.name,
          sourceVolumeId: source.id,
          sizeBytes: source.sizeBytes,
          mode: source.mode,
          fsType: source.fsType,
          parameters: request.parameters,
          createdAt: new Date().toISOString(),
        };
        await this.buildInTmp(
          id,
          this.layout.snapshotDir(id),
          this.layout.snapshotsDir,
          opSignal,
          (work) =>
            this.copyObject(
              this.layout.volumeDir(source.id),
              work,
              `volume ${source.id}`,
              source.sizeBytes,
              'read-only',
              request.consistency,
            ),
          async (work) => {
            await writeMetaInWork(join(work, META_FILE), meta);
            return [join(work, META_FILE)];
          },
        );
        return meta;
      },
      sourceKeys,
    );
  }

  /** Deletes a snapshot; an unknown one is already deleted (OK). Volumes restored from it keep their data. */
  deleteSnapshot(id: SnapshotId, signal?: AbortSignal): Promise<void> {
    return this.gate.run(id, 'delete', signal, () =>
      this.discard(this.layout.snapshotDir(id), this.layout.snapshotsDir, id),
    );
  }

  async getSnapshot(id: SnapshotId): Promise<SnapshotMeta | undefined> {
    return readSnapshotMeta(this.layout.snapshotMeta(id), id);
  }

  /** Every snapshot, sorted by ID (the order ListSnapshots pages through). */
  async listSnapshots(): Promise<SnapshotMeta[]> {
    const names = (await readdir(this.layout.snapshotsDir)).filter(isSnapshotId).sort();
    const metas = await mapLimited(names, READS_IN_FLIGHT, (id) => this.getSnapshot(id));
    return metas.filter((meta): meta is SnapshotMeta => meta !== undefined);
  }

  /**
   * Grows a volume's image (a hole at the end: instant, no space used) and records the new size.
   * The filesystem inside grows on the node (NodeExpandVolume, or at the next stage).
   */
  expandVolume(id: VolumeId, range: CapacityRange, signal?: AbortSignal): Promise<VolumeMeta> {
    return this.gate.run(id, `expand:${range.requiredBytes}:${range.limitBytes}`, signal, () =>
      this.growHeld(id, range),
    );
  }

  /**
   * The body of expandVolume, for a caller that already holds the volume's lock
   * (Pool.serialize): the node service, which grows a volume on its node.
   */
  async growHeld(id: VolumeId, range: CapacityRange): Promise<VolumeMeta> {
    const meta = await this.getVolume(id);
    if (!meta) throw notFound(`volume ${id} does not exist`);
    const { totalBytes, availableBytes } = await this.stats();
    const sizeBytes = chooseExpandedSize(range, meta.sizeBytes, totalBytes);
    if (sizeBytes === meta.sizeBytes) return meta;
    await this.assertFits(sizeBytes - meta.sizeBytes, availableBytes, 'growing this volume');
    // Image first, then the record: a crash between them leaves an image larger than its record,
    // which the next start completes (reconcileSizes).
    await growFile(await this.layout.volumeImage(id), sizeBytes);
    faultPoint('expand:image-grown');
    const grown = { ...meta, sizeBytes };
    await writeMeta(
      this.layout.volumeMeta(id),
      grown,
      this.backend.workDirFor(this.layout.volumeDir(id), this.layout.tmpDir),
    );
    return grown;
  }

  async getVolume(id: VolumeId): Promise<VolumeMeta | undefined> {
    return readMeta(this.layout.volumeMeta(id), id);
  }

  /** Every volume, sorted by ID (the order ListVolumes pages through). */
  async listVolumes(): Promise<VolumeMeta[]> {
    return this.getVolumes(await this.listVolumeIds());
  }

  /** The IDs of every volume, sorted; cheap (one directory read), for paging before reading records. */
  async listVolumeIds(): Promise<VolumeId[]> {
    return (await readdir(this.layout.volumesDir)).filter(isVolumeId).sort();
  }

  /** The records of these volumes, in order; one deleted meanwhile is left out. */
  async getVolumes(ids: readonly VolumeId[]): Promise<VolumeMeta[]> {
    const metas = await mapLimited(ids, READS_IN_FLIGHT, (id) => this.getVolume(id));
    return metas.filter((meta): meta is VolumeMeta => meta !== undefined);
  }

  async stats(): Promise<PoolStats> {
    const pool = await statfs(this.root);
    let availableBytes = pool.bavail * pool.bsize;
    if (this.prepared.hostDir) {
      // An embedded pool's image is sparse: what it can still store is also bounded by the host.
      const host = await statfs(this.prepared.hostDir);
      availableBytes = Math.min(availableBytes, host.bavail * host.bsize);
    }
    return { totalBytes: pool.blocks * pool.bsize, availableBytes };
  }

  /**
   * The pool's space once what deletes are still freeing is free (btrfs frees deleted subvolumes
   * and files in the background; waits a bounded time): for an answer of "no space".
   * `settled` is false when some may still be on its way.
   */
  async reclaimedStats(): Promise<PoolStats & { settled: boolean }> {
    const settled = await this.backend.reclaim(this.root);
    return { ...(await this.stats()), settled };
  }

  /** Throws FAILED_PRECONDITION when the pool cannot serve requests (unmounted, read-only, gone). */
  async checkHealth(): Promise<void> {
    try {
      const root = await stat(this.root);
      if (root.dev !== this.rootDevice) throw new Error('the pool filesystem is no longer mounted there');
      await access(this.layout.volumesDir, constants.W_OK);
      await access(this.layout.tmpDir, constants.W_OK);
    } catch (error) {
      throw new DollyError(
        Code.FAILED_PRECONDITION,
        `the pool at ${this.root} is not usable: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  /**
   * The pool is thin: what a clone or restore shares with its source costs nothing. What a new
   * volume or the grown part of one adds could all be written, so it must fit in the space the
   * pool has now; otherwise the volume would be overcommitted from its first day. Space that
   * deletes are still freeing (btrfs frees a deleted subvolume in the background) is waited for
   * before the answer is no.
   */
  private async assertFits(newBytes: number, availableBytes: number, what: string): Promise<void> {
    if (newBytes <= availableBytes) return;
    const { availableBytes: available, settled } = await this.reclaimedStats();
    if (newBytes <= available) return;
    throw new DollyError(
      Code.RESOURCE_EXHAUSTED,
      `${what} needs ${formatSize(newBytes)} of new space but the pool has ${formatSize(available)} available${settled ? '' : ' (more is still being freed from deleted volumes: retry shortly)'}; free space (delete volumes or snapshots) or grow the pool (--pool-size)`,
    );
  }

  private async buildVolume(id: VolumeId, request: VolumeRequest, signal: AbortSignal): Promise<VolumeMeta> {
    // Everything about the source is checked before anything is allocated.
    const source = await this.resolveSource(request);
    const { totalBytes, availableBytes } = await this.stats();
    const sizeBytes = chooseVolumeSize(
      request.capacity,
      source && { sizeBytes: source.meta.sizeBytes, what: source.description },
      totalBytes,
      volumeMinimum(request.mode, request.fsType ?? source?.meta.fsType ?? DEFAULT_FS_TYPE),
    );
    await this.assertFits(sizeBytes - (source?.meta.sizeBytes ?? 0), availableBytes, 'this volume');
    const meta: VolumeMeta = {
      version: 1,
      id,
      name: request.name,
      sizeBytes,
      mode: request.mode,
      fsType:
        request.mode === 'block' ? undefined : (request.fsType ?? source?.meta.fsType ?? DEFAULT_FS_TYPE),
      parameters: request.parameters,
      contentSource: request.source,
      createdAt: new Date().toISOString(),
    };

    try {
      await this.buildInTmp(
        id,
        this.layout.volumeDir(id),
        this.layout.volumesDir,
        signal,
        (work) =>
          source
            ? this.copyObject(
                source.dir,
                work,
                source.description,
                source.meta.sizeBytes,
                'writable',
                request.consistency,
              )
            : this.backend.makeEmpty(work),
        async (work) => {
          const image = this.backend.imageIn(work);
          const metaFile = join(work, META_FILE);
          await writeMetaInWork(metaFile, meta);
          if (!source) {
            await createSparseFile(image, sizeBytes);
            return [image, metaFile];
          }
          // A copy's image is durable already (backend.copy); growing it makes it so again.
          if (sizeBytes > source.meta.sizeBytes) await growFile(image, sizeBytes);
          return [metaFile];
        },
      );
      return meta;
    } catch (error) {
      throw toDollyError(error, `cannot create volume ${JSON.stringify(request.name)}`);
    }
  }

  /**
   * Builds an object (volume or snapshot) in tmp/ and renames it into place in one step: a
   * crash or failure before the rename leaves only tmp/ work, which is removed. `make` creates
   * the work directory (empty, or a copy of the source), `fill` completes it and names the files
   * it wrote, which are made durable before the rename.
   */
  private async buildInTmp(
    id: string,
    finalDir: string,
    parentDir: string,
    signal: AbortSignal,
    make: (work: string) => Promise<void>,
    fill: (work: string) => Promise<string[]>,
  ): Promise<void> {
    const work = join(this.layout.tmpDir, `${id}.${randomBytes(6).toString('hex')}`);
    try {
      throwIfAborted(signal);
      await make(work);
      await this.durability.written(await fill(work));
      throwIfAborted(signal);
      faultPoint('build:before-rename');
      await rename(work, finalDir);
      await this.durability.renamed(parentDir);
    } catch (error) {
      await this.backend.remove(work).catch((cleanup: unknown) =>
        this.log('could not remove failed work; the next start removes it', {
          work,
          error: String(cleanup),
        }),
      );
      throw error;
    }
  }

  /** Deletes an object directory: one rename into trash/ (the delete point), then removal. */
  private async discard(dir: string, parentDir: string, id: string): Promise<void> {
    const trash = join(this.layout.trashDir, `${id}.${randomBytes(6).toString('hex')}`);
    try {
      await rename(dir, trash);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return;
      throw toDollyError(error, `cannot delete ${id}`);
    }
    await this.durability.renamed(parentDir);
    faultPoint('delete:trashed');
    await this.backend.remove(trash);
  }

  private async resolveSource(
    request: VolumeRequest,
  ): Promise<{ meta: CommonMetaFields; dir: string; description: string } | undefined> {
    const source = request.source;
    if (!source) return undefined;
    let meta: CommonMetaFields | undefined;
    let dir: string;
    let description: string;
    if (source.kind === 'snapshot') {
      meta = await this.getSnapshot(source.snapshotId);
      if (!meta) throw notFound(`snapshot ${source.snapshotId} does not exist`);
      dir = this.layout.snapshotDir(source.snapshotId);
      description = `snapshot ${source.snapshotId}`;
    } else {
      meta = await this.getVolume(source.volumeId);
      if (!meta) throw notFound(`source volume ${source.volumeId} does not exist`);
      dir = this.layout.volumeDir(source.volumeId);
      description = `volume ${source.volumeId}`;
    }
    if (meta.mode !== request.mode) {
      throw invalidArgument(
        `the source ${description} is a ${modeName(meta.mode)} volume and cannot be cloned into a ${modeName(request.mode)} volume; source and clone must use the same volume mode`,
      );
    }
    if (request.mode === 'mount' && request.fsType !== undefined && request.fsType !== meta.fsType) {
      throw invalidArgument(
        `the source ${description} holds ${meta.fsType ?? 'no'} filesystem, not ${request.fsType}; ask for fs_type ${meta.fsType ?? '""'} or none`,
      );
    }
    return { meta, dir, description };
  }

  /**
   * Makes `work` a copy-on-write copy of the source object's directory (backends/); a source in
   * use on this node is frozen around it for a consistent copy, unless the caller asked for a
   * crash-consistent one. The caller holds the source shared, so the image has the size its
   * record says; that is checked anyway, because a copy recorded smaller than its image would
   * later be cut short by an expansion.
   */
  private async copyObject(
    sourceDir: string,
    work: string,
    description: string,
    sourceBytes: number,
    access: 'read-only' | 'writable',
    consistency: CopyConsistency,
  ): Promise<void> {
    const image = this.backend.imageIn(work);
    try {
      const source = { dir: sourceDir, image: await imageIn(sourceDir) };
      const copy = () => this.backend.copy(source, work, access);
      if (consistency === 'crash') await copy();
      else await this.freezer.withFrozen((await imageUsers(source.image)).mountPoints, copy);
    } catch (error) {
      // The source was deleted between the check and the clone.
      if (errnoCode(error) === 'ENOENT') throw notFound(`the source ${description} was deleted`);
      throw error;
    }
    const { size } = await stat(image);
    if (size !== sourceBytes) {
      throw internal(
        `the copy of ${description} is ${size} bytes, not the ${sourceBytes} its record says; nothing was created`,
      );
    }
  }
}

/** The lock key of a content source: the volume's or snapshot's ID. */
function sourceKey(source: ContentSource): VolumeId | SnapshotId {
  return source.kind === 'volume' ? source.volumeId : source.snapshotId;
}

/**
 * An expansion grows the image, then records the size. A driver killed between the two leaves
 * an image larger than its record; the caller never had an answer and will retry. The larger
 * size is the truth (the node may already see it), so the record is brought up to the image:
 * never the other way, which would cut off data.
 */
async function reconcileSizes(layout: PoolLayout, backend: PoolBackend, log: Logger): Promise<void> {
  const ids = (await readdir(layout.volumesDir)).filter(isVolumeId);
  for (const id of ids) {
    let meta: VolumeMeta | undefined;
    try {
      meta = await readMeta(layout.volumeMeta(id), id);
    } catch (error) {
      log('cannot read a volume record; leaving it as it is', { volume: id, error: String(error) });
      continue;
    }
    if (!meta) continue;
    const image = await layout.volumeImage(id);
    const size = (await statIfExists(image))?.size;
    if (size === undefined) {
      log('a volume has a record but no image; leaving it as it is', { volume: id });
      continue;
    }
    if (size === meta.sizeBytes) continue;
    const sizeBytes = Math.max(size, meta.sizeBytes);
    log('volume image and record disagree on its size (an expansion was interrupted); completing it', {
      volume: id,
      imageBytes: size,
      recordedBytes: meta.sizeBytes,
      nowBytes: sizeBytes,
    });
    await growFile(image, sizeBytes);
    await writeMeta(
      layout.volumeMeta(id),
      { ...meta, sizeBytes },
      backend.workDirFor(layout.volumeDir(id), layout.tmpDir),
    );
  }
}

function modeName(mode: VolumeMode): string {
  return mode === 'block' ? 'block' : 'filesystem';
}

function describeSource(source: ContentSource | undefined): string {
  if (!source) return 'no source';
  return source.kind === 'volume'
    ? `source volume ${source.volumeId}`
    : `source snapshot ${source.snapshotId}`;
}

function sameSource(a: ContentSource | undefined, b: ContentSource | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.kind === 'volume' && b.kind === 'volume') return a.volumeId === b.volumeId;
  if (a.kind === 'snapshot' && b.kind === 'snapshot') return a.snapshotId === b.snapshotId;
  return false;
}

function sameParameters(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return (
    keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && a[key] === b[key])
  );
}

/** The CSI rule for a CreateVolume whose name exists: compatible → OK, else ALREADY_EXISTS. */
function assertCompatible(existing: VolumeMeta, request: VolumeRequest): void {
  const name = JSON.stringify(request.name);
  const problems: string[] = [];
  if (!fitsRange(existing.sizeBytes, request.capacity)) {
    problems.push(
      `its size ${formatSize(existing.sizeBytes)} (${existing.sizeBytes} bytes) is outside the requested range`,
    );
  }
  if (existing.mode !== request.mode) problems.push(`it is a ${modeName(existing.mode)} volume`);
  if (request.mode === 'mount' && request.fsType !== undefined && request.fsType !== existing.fsType) {
    problems.push(`its filesystem is ${existing.fsType ?? 'none'}`);
  }
  if (!sameParameters(existing.parameters, request.parameters))
    problems.push('it was created with other parameters');
  if (!sameSource(existing.contentSource, request.source)) {
    problems.push(
      `it was created from ${describeSource(existing.contentSource)}, not ${describeSource(request.source)}`,
    );
  }
  if (problems.length > 0) {
    throw alreadyExists(
      `a volume named ${name} already exists (${existing.id}) and does not match this request: ${problems.join('; ')}`,
    );
  }
}

function fingerprint(request: VolumeRequest): string {
  const parameters = Object.entries(request.parameters).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([
    request.name,
    request.capacity.requiredBytes,
    request.capacity.limitBytes,
    request.mode,
    request.fsType ?? '',
    parameters,
    request.source ?? null,
  ]);
}
