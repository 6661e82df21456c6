import { constants } from 'node:fs';
import { mkdir, open, realpath, rmdir, statfs, unlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { exists, statIfExists } from '../util/stat-if-exists.js';
import { Code, DollyError, errnoCode, invalidArgument, notFound } from '../errors.js';
import {
  growMountedFilesystem,
  growUnmountedExt4,
  makeFilesystem,
  probeFilesystem,
  readExt4Size,
  wipeSignatures,
} from '../host/filesystem.js';
import { attachLoop, detachLoop, loopsFor, refreshLoopSize } from '../host/loop.js';
import type { MountEntry } from '../host/mountinfo.js';
import { readMountInfo } from '../host/mountinfo.js';
import { bindMount, mountDevice, unmount } from '../host/mount.js';
import { MIN_FILESYSTEM_BYTES } from '../pool/capacity.js';
import type { CapacityRange } from '../pool/capacity.js';
import { quote } from '../pool/ids.js';
import type { VolumeId } from '../pool/ids.js';
import type { FsType, VolumeMeta, VolumeMode } from '../pool/meta.js';
import type { Pool } from '../pool/pool.js';
import { DEFAULT_FS_TYPE } from '../pool/pool.js';
import { MiB, formatSize } from '../pool/sizes.js';
import { faultPoint } from '../util/fault.js';
import { readStagedPath, removeStagedPath, writeStagedPath } from './staged-record.js';
import {
  assertStillResolves,
  checkHostPathSyntax,
  checkOutsidePool,
  lookupHostPath,
  makeDirectory,
  resolveHostPath,
} from './host-paths.js';

/** What a stage or publish request asks for, already validated. */
export interface AccessSpec {
  mode: VolumeMode;
  /** undefined: the volume's own filesystem. */
  fsType: FsType | undefined;
  mountFlags: string[];
}

export type VolumeStats =
  | {
      kind: 'mount';
      totalBytes: number;
      availableBytes: number;
      usedBytes: number;
      totalInodes: number;
      freeInodes: number;
    }
  | { kind: 'block'; totalBytes: number }
  /** The path exists but the volume's mount or loop device under it is gone. */
  | { kind: 'abnormal'; message: string };

/**
 * The node side of the engine: makes pool volumes usable on this host, as filesystems mounted
 * at a staging path and bound to targets, or as loop block devices bound to target files.
 * It keeps no state of its own: what is staged and published is read back from the kernel
 * (loop devices in sysfs, /proc/self/mountinfo), so a driver restart loses nothing.
 */
export class NodeEngine {
  private poolRoot: Promise<string> | undefined;

  constructor(private readonly pool: Pool) {}

  /**
   * A staging or target path from a request, checked and resolved the way the kernel records
   * it (symlinks followed), so that every later comparison with /proc/self/mountinfo holds.
   * INVALID_ARGUMENT for a malformed path, one that resolves into the pool, or one above it.
   */
  async hostPath(path: string, field: string): Promise<string> {
    const given = checkHostPathSyntax(path, field);
    checkOutsidePool(given, this.pool.root, field, given);
    const resolved = await resolveHostPath(given, field);
    checkOutsidePool(resolved, await this.resolvedPoolRoot(), field, given);
    return resolved;
  }

  /** A volume_path to look a volume up at (stats, expand): its resolved form, or undefined when nothing is there. */
  findPath(path: string): Promise<string | undefined> {
    return lookupHostPath(path);
  }

  async stage(id: VolumeId, stagingPath: string, spec: AccessSpec, signal?: AbortSignal): Promise<void> {
    await this.pool.serialize(id, `stage:${stagingPath}:${JSON.stringify(spec)}`, signal, async () => {
      const meta = await this.requireVolume(id);
      const fsType = checkAccess(meta, spec);
      const image = await this.pool.layout.volumeImage(id);
      const existing = await mountAt(stagingPath);
      const attachedBefore = (await loopsFor(image)).map((loop) => loop.name);
      if (existing) {
        if (attachedBefore.includes(existing.source)) {
          const wanted = fsType ?? DEFAULT_FS_TYPE;
          if (meta.mode === 'mount' && existing.fsType !== wanted) {
            throw new DollyError(
              Code.ALREADY_EXISTS,
              `volume ${id} is staged at ${stagingPath} as ${existing.fsType}, not ${wanted}`,
            );
          }
          const wantReadOnly = spec.mountFlags.includes('ro');
          if (wantReadOnly !== isReadOnly(existing)) {
            throw new DollyError(
              Code.ALREADY_EXISTS,
              `volume ${id} is staged at ${stagingPath} ${wantReadOnly ? 'read-write, not read-only' : 'read-only, not read-write'}`,
            );
          }
          const staged = await this.stagedElsewhere(id, stagingPath, existing.source);
          if (staged !== undefined) {
            throw new DollyError(
              Code.FAILED_PRECONDITION,
              `volume ${id} is staged at ${staged}; ${stagingPath} holds another mount of it (where it is published), not a staging path`,
            );
          }
          return; // already staged here
        }
        throw new DollyError(
          Code.ALREADY_EXISTS,
          `staging path ${stagingPath} already has something else mounted (${existing.source})`,
        );
      }
      if (meta.mode === 'mount') {
        // One staging mount per volume on a node (the CO stages once and publishes from it). A
        // second one would mount a filesystem in use again, and find it busy for checks or growth.
        const elsewhere = (await mountsOf(attachedBefore)).filter((mount) => mount.fsType !== 'devtmpfs');
        if (elsewhere.length > 0) {
          throw new DollyError(
            Code.FAILED_PRECONDITION,
            `volume ${id} is already staged on this node (mounted at ${elsewhere.map((mount) => mount.mountPoint).join(', ')}); unpublish and unstage it there first, or publish from that staging path`,
          );
        }
      }
      // A failed stage undoes what this call did, newest first, and nothing it found done.
      const undo: (() => Promise<void>)[] = [];
      try {
        const device = await this.attach(id, meta);
        if (!attachedBefore.includes(device)) undo.push(() => detachLoop(device));
        faultPoint('stage:attached');
        if (meta.mode === 'block') return;

        const removeDirectory = await makeDirectory(stagingPath, 'staging_target_path');
        if (removeDirectory) undo.push(removeDirectory);
        const found = await probeFilesystem(device);
        const wanted = fsType ?? DEFAULT_FS_TYPE;
        if (found === undefined) {
          // mkfs writes into the sparse image: on a (nearly) full pool, refuse before it changes anything.
          await this.assertPoolNotFull(id, 'make its filesystem', undefined);
          await makeNewFilesystem(id, device, wanted, meta.sizeBytes).catch(async (error: unknown) => {
            // Erase what it wrote, so that the retry formats again instead of finding a broken filesystem.
            await wipeSignatures(device).catch((wipeError: unknown) =>
              this.pool.log('could not erase what a failed mkfs left', {
                volume: id,
                device,
                error: wipeError instanceof Error ? wipeError.message : String(wipeError),
              }),
            );
            await this.assertPoolNotFull(id, 'make its filesystem', error);
            throw error;
          });
        } else if (found !== wanted) {
          throw new DollyError(
            Code.FAILED_PRECONDITION,
            `volume ${id} holds a ${found} filesystem, not ${wanted}`,
          );
        } else if (wanted === 'ext4' && (await readExt4Size(device)) < meta.sizeBytes) {
          // Grown before mounting: online ext4 growth needs CAP_SYS_RESOURCE, this does not.
          await growUnmountedExt4(device);
        }
        // Mounting writes (superblock, journal): a clone's blocks are shared, so that needs space.
        await mountStaging(device, stagingPath, wanted, spec.mountFlags).catch(async (error: unknown) => {
          await this.assertPoolNotFull(id, 'mount its filesystem', error);
          throw error;
        });
        undo.push(() => unmount(stagingPath));
        if (wanted === 'xfs') await growMountedFilesystem(device, stagingPath, 'xfs');
        await writeStagedPath(this.pool.layout, id, stagingPath);
      } catch (error) {
        for (const step of undo.reverse()) {
          await step().catch((undoError: unknown) =>
            this.pool.log('could not undo part of a failed stage', {
              volume: id,
              stagingPath,
              error: undoError instanceof Error ? undoError.message : String(undoError),
            }),
          );
        }
        throw error;
      }
    });
  }

  async unstage(id: VolumeId, stagingPath: string, signal?: AbortSignal): Promise<void> {
    await this.pool.serialize(id, `unstage:${stagingPath}`, signal, async () => {
      const image = await this.pool.layout.volumeImage(id);
      const devices = (await loopsFor(image)).map((loop) => loop.name);
      const mounted = await mountAt(stagingPath);
      if (mounted && devices.includes(mounted.source)) {
        const staged = await this.stagedElsewhere(id, stagingPath, mounted.source);
        if (staged !== undefined) {
          throw new DollyError(
            Code.FAILED_PRECONDITION,
            `volume ${id} is staged at ${staged}, not at ${stagingPath} (where it is published, or another mount of it); nothing was unmounted: NodeUnstageVolume takes the staging path, after NodeUnpublishVolume of every target`,
          );
        }
        await unmount(stagingPath);
      }
      const remaining = await mountsOf(devices);
      if (remaining.length > 0) {
        throw new DollyError(
          Code.FAILED_PRECONDITION,
          `volume ${id} is still published at ${remaining.map((mount) => mount.mountPoint).join(', ')}; unpublish it first`,
        );
      }
      for (const device of devices) await detachLoop(device);
      await removeStagedPath(this.pool.layout, id);
    });
  }

  /**
   * The staging path recorded for the volume when it is not `path` and still holds the volume's
   * device: then `path` is a publish target (or another bind) of it, not its staging path.
   */
  private async stagedElsewhere(id: VolumeId, path: string, device: string): Promise<string | undefined> {
    const staged = await readStagedPath(this.pool.layout, id);
    if (staged === undefined || staged === path) return undefined;
    return (await mountAt(staged))?.source === device ? staged : undefined;
  }

  async publish(
    id: VolumeId,
    stagingPath: string,
    targetPath: string,
    spec: AccessSpec & { readOnly: boolean },
    signal?: AbortSignal,
  ): Promise<void> {
    await this.pool.serialize(id, `publish:${targetPath}:${JSON.stringify(spec)}`, signal, async () => {
      const meta = await this.requireVolume(id);
      checkAccess(meta, spec);
      const devices = (await loopsFor(await this.pool.layout.volumeImage(id))).map((loop) => loop.name);
      const device = devices[0];
      if (device === undefined) throw notStaged(id, stagingPath);
      const existing = await mountAt(targetPath);
      if (existing) {
        if (!isMountOf(existing, device, meta.mode)) {
          throw new DollyError(
            Code.ALREADY_EXISTS,
            `target path ${targetPath} already has another volume mounted`,
          );
        }
        if (isReadOnly(existing) !== spec.readOnly) {
          throw new DollyError(
            Code.ALREADY_EXISTS,
            `volume ${id} is already published at ${targetPath} ${isReadOnly(existing) ? 'read-only' : 'read-write'}`,
          );
        }
        return;
      }
      let removeTarget: (() => Promise<void>) | undefined;
      if (meta.mode === 'mount') {
        const staged = await mountAt(stagingPath);
        if (!staged || staged.source !== device) throw notStaged(id, stagingPath);
        removeTarget = await makeTargetDirectory(targetPath);
      } else {
        // The target of a block volume is a file the device node is bound onto.
        removeTarget = await makeTargetFile(targetPath);
      }
      try {
        await assertStillResolves(targetPath, 'target_path');
        await bindMount(meta.mode === 'mount' ? stagingPath : device, targetPath, spec.readOnly);
      } catch (error) {
        await removeTarget?.();
        throw error;
      }
    });
  }

  async unpublish(id: VolumeId, targetPath: string, signal?: AbortSignal): Promise<void> {
    await this.pool.serialize(id, `unpublish:${targetPath}`, signal, async () => {
      const devices = (await loopsFor(await this.pool.layout.volumeImage(id))).map((loop) => loop.name);
      const mounted = await mountAt(targetPath);
      if (mounted) {
        if (
          !devices.some(
            (device) => isMountOf(mounted, device, 'mount') || isMountOf(mounted, device, 'block'),
          )
        ) {
          throw notFound(`${targetPath} is not where volume ${id} is published`);
        }
        await unmount(targetPath);
      } else {
        // Nothing of this volume is published here: nothing here is Dolly's to remove. (A retry
        // after a crash between unmount and removal leaves an empty target; the CO removes it.)
        return;
      }
      const kept = await removeTarget(targetPath);
      // CSI: the SP deletes what it created; anything else at the target is not Dolly's to delete.
      if (kept)
        this.pool.log(
          'left the target in place after unpublishing: it holds something Dolly did not put there',
          { volume: id, targetPath, kept },
        );
    });
  }

  async stats(id: VolumeId, volumePath: string): Promise<VolumeStats> {
    const { meta, loops, mounted, loop } = await this.locate(id, volumePath);
    if (!loop) {
      // Something else is mounted there, or the path does not exist: not this volume's path.
      if (mounted || !(await exists(volumePath))) {
        throw notFound(`volume ${id} is not staged or published at ${volumePath}`);
      }
      return {
        kind: 'abnormal',
        message:
          loops.length === 0
            ? `volume ${id} is not attached to a loop device on this node any more`
            : `nothing is mounted at ${volumePath} any more`,
      };
    }
    if (meta.mode === 'block') return { kind: 'block', totalBytes: loop.sizeBytes };
    const fs = await statfs(volumePath);
    return {
      kind: 'mount',
      totalBytes: fs.blocks * fs.bsize,
      availableBytes: fs.bavail * fs.bsize,
      usedBytes: (fs.blocks - fs.bfree) * fs.bsize,
      totalInodes: fs.files,
      freeInodes: fs.ffree,
    };
  }

  /**
   * Grows a volume on its node: the image first when `range` asks for more than it has (the
   * only way a volume grows with --expansion node, and harmless after a ControllerExpandVolume),
   * then the loop device, then the mounted filesystem.
   */
  async expand(
    id: VolumeId,
    volumePath: string,
    range: CapacityRange,
    signal?: AbortSignal,
  ): Promise<number> {
    return this.pool.serialize(
      id,
      `expand:${volumePath}:${range.requiredBytes}:${range.limitBytes}`,
      signal,
      async () => {
        const located = await this.locate(id, volumePath);
        const { loop } = located;
        if (!loop) throw notFound(`volume ${id} is not staged or published at ${volumePath}`);
        const meta =
          range.requiredBytes > located.meta.sizeBytes ? await this.pool.growHeld(id, range) : located.meta;
        if (loop.sizeBytes < meta.sizeBytes) await refreshLoopSize(loop.name);
        if (meta.mode === 'mount') {
          try {
            await growMountedFilesystem(loop.name, volumePath, meta.fsType ?? DEFAULT_FS_TYPE);
          } catch (error) {
            if (error instanceof Error && /Permission denied to resize/.test(error.message)) {
              throw new DollyError(
                Code.FAILED_PRECONDITION,
                `growing the mounted ext4 filesystem of ${id} needs CAP_SYS_RESOURCE, which the driver lacks; run it privileged, or unstage and stage the volume again (it grows at stage)`,
              );
            }
            throw error;
          }
        }
        return meta.sizeBytes;
      },
    );
  }

  /** The volume, its loop devices, what is mounted at `path`, and the loop device mounted there if it is this volume's. */
  private async locate(id: VolumeId, path: string) {
    const meta = await this.requireVolume(id);
    const loops = await loopsFor(await this.pool.layout.volumeImage(id));
    const mounted = await mountAt(path);
    const loop = loops.find(
      (candidate) => mounted !== undefined && isMountOf(mounted, candidate.name, meta.mode),
    );
    return { meta, loops, mounted, loop };
  }

  private async requireVolume(id: VolumeId): Promise<VolumeMeta> {
    const meta = await this.pool.getVolume(id);
    if (!meta) throw notFound(`volume ${id} does not exist`);
    return meta;
  }

  /**
   * RESOURCE_EXHAUSTED when the pool has (nearly) no space left: a volume's writes need pool
   * space wherever its image is a hole or shares a block with a copy, so a filesystem cannot be
   * made or mounted there. `failure`: the error this explains, if the step was tried.
   */
  private async assertPoolNotFull(id: VolumeId, step: string, failure: unknown): Promise<void> {
    if ((await this.pool.stats()).availableBytes >= POOL_NEARLY_FULL_BYTES) return;
    const { availableBytes } = await this.pool.reclaimedStats();
    if (availableBytes >= POOL_NEARLY_FULL_BYTES) return;
    const why = failure instanceof Error ? ` (${failure.message})` : '';
    throw new DollyError(
      Code.RESOURCE_EXHAUSTED,
      `the pool has ${formatSize(availableBytes)} left, less than the ${formatSize(POOL_NEARLY_FULL_BYTES)} needed to ${step} for volume ${id}${why}; free space (delete volumes or snapshots) or grow the pool, then stage it again`,
      { cause: failure },
    );
  }

  /** Attaches the image (once: an attached image is reused) and makes the device see its full size. */
  private async attach(id: VolumeId, meta: VolumeMeta): Promise<string> {
    const image = await this.pool.layout.volumeImage(id);
    const device = await attachLoop(image);
    const loop = (await loopsFor(image)).find((candidate) => candidate.name === device);
    if (loop && loop.sizeBytes < meta.sizeBytes) await refreshLoopSize(device);
    return device;
  }

  /** The pool root as the kernel sees it (resolved once: it does not move while the driver runs). */
  private resolvedPoolRoot(): Promise<string> {
    this.poolRoot ??= realpath(this.pool.root);
    return this.poolRoot;
  }
}

/** The free pool space a first stage wants: mkfs writes superblocks, group tables and a journal or log. */
const POOL_NEARLY_FULL_BYTES = 64 * MiB;

/**
 * Makes the filesystem of a volume's first stage. Below the smallest filesystem Dolly makes
 * (a volume from before CreateVolume rounded up to it) mkfs would fail or make a poor one, so
 * the caller is told how to fix it instead.
 */
async function makeNewFilesystem(
  id: VolumeId,
  device: string,
  fsType: FsType,
  sizeBytes: number,
): Promise<void> {
  const minimum = MIN_FILESYSTEM_BYTES[fsType];
  if (sizeBytes < minimum) {
    throw new DollyError(
      Code.FAILED_PRECONDITION,
      `volume ${id} is ${formatSize(sizeBytes)}, smaller than the ${formatSize(minimum)} (${minimum} bytes) of the smallest ${fsType} filesystem Dolly makes; grow it with ControllerExpandVolume to at least ${minimum} bytes and stage it again`,
    );
  }
  await makeFilesystem(device, fsType);
}

/**
 * Mounts a staged filesystem with the caller's flags. mount(8) says the same for a bad option
 * as for a bad filesystem, so when it fails with flags, a mount without them tells which: if
 * that works, the flags were refused (INVALID_ARGUMENT, the caller's to fix), else the error
 * stands.
 */
async function mountStaging(
  device: string,
  stagingPath: string,
  fsType: FsType,
  flags: string[],
): Promise<void> {
  try {
    await mountDevice(device, stagingPath, fsType, flags);
  } catch (error) {
    if (flags.length === 0) throw error;
    try {
      await mountDevice(device, stagingPath, fsType);
    } catch {
      throw error;
    }
    await unmount(stagingPath);
    throw invalidArgument(
      `the ${fsType} filesystem refused the mount flags ${flags.map(quote).join(', ')} (without them it mounts): ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function checkAccess(meta: VolumeMeta, spec: AccessSpec): FsType | undefined {
  if (spec.mode !== meta.mode) {
    throw invalidArgument(
      `volume ${meta.id} is a ${meta.mode === 'block' ? 'block' : 'filesystem'} volume, not ${spec.mode === 'block' ? 'block' : 'filesystem'}`,
    );
  }
  if (
    spec.mode === 'mount' &&
    spec.fsType !== undefined &&
    meta.fsType !== undefined &&
    spec.fsType !== meta.fsType
  ) {
    throw invalidArgument(`volume ${meta.id} is formatted ${meta.fsType}, not ${spec.fsType}`);
  }
  return meta.fsType ?? spec.fsType;
}

function notStaged(id: VolumeId, stagingPath: string): DollyError {
  return new DollyError(
    Code.FAILED_PRECONDITION,
    `volume ${id} is not staged at ${stagingPath}; call NodeStageVolume first`,
  );
}

async function mountAt(path: string): Promise<MountEntry | undefined> {
  return (await readMountInfo()).filter((mount) => mount.mountPoint === path).at(-1);
}

async function mountsOf(devices: string[]): Promise<MountEntry[]> {
  const names = devices.map((device) => `/${basename(device)}`);
  return (await readMountInfo()).filter(
    (mount) => devices.includes(mount.source) || names.includes(mount.root),
  );
}

/** A filesystem mount of the device (staging or its binds), or a bind of the device node itself. */
function isMountOf(mount: MountEntry, device: string, mode: VolumeMode): boolean {
  if (mode === 'mount') return mount.source === device;
  return (
    mount.root === `/${basename(device)}` &&
    (mount.fsType === 'devtmpfs' || mount.source === 'udev' || mount.source === device)
  );
}

function isReadOnly(mount: MountEntry): boolean {
  return mount.mountOptions.includes('ro');
}

/**
 * Creates a mount target directory (its parent must exist: the CO makes it). Returns how to
 * remove it again, or undefined when it was there already.
 */
async function makeTargetDirectory(path: string): Promise<(() => Promise<void>) | undefined> {
  try {
    await mkdir(path, 0o750);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EEXIST') {
      if ((await statIfExists(path, { followLinks: false }))?.isDirectory()) return undefined;
      throw invalidArgument(`target_path ${path} exists and is not a directory`);
    }
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw invalidArgument(`target_path ${path}: its parent is not a directory (the CO creates the parent)`);
    }
    throw error;
  }
  return () => rmdir(path).catch(() => undefined);
}

/** Creates the file a block device node is bound onto; never through a symlink (O_NOFOLLOW). */
async function makeTargetFile(path: string): Promise<(() => Promise<void>) | undefined> {
  const existed = (await statIfExists(path, { followLinks: false })) !== undefined;
  try {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW;
    await (await open(path, flags, 0o600)).close();
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ELOOP' || code === 'EISDIR') {
      throw invalidArgument(`target_path ${path} exists and is not a file a block device can be bound onto`);
    }
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw invalidArgument(`target_path ${path}: its parent is not a directory (the CO creates the parent)`);
    }
    throw error;
  }
  return existed ? undefined : () => unlink(path).catch(() => undefined);
}

/**
 * Removes a target the driver created: an empty directory or an empty file. Anything with
 * content was not put there by Dolly and is kept; its description is returned.
 */
async function removeTarget(path: string): Promise<string | undefined> {
  const info = await statIfExists(path, { followLinks: false });
  if (!info) return undefined;
  try {
    if (info.isDirectory()) await rmdir(path);
    else if (info.isFile() && info.size === 0) await unlink(path);
    else return info.isFile() ? `a file of ${info.size} bytes` : 'something other than a file or directory';
  } catch (error) {
    if (errnoCode(error) === 'ENOTEMPTY' || errnoCode(error) === 'EEXIST')
      return 'a directory that is not empty';
    throw error;
  }
  return undefined;
}
