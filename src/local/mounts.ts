import { rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DollyError, errnoCode } from '../errors.js';
import { findMount } from '../host/mountinfo.js';
import type { NamespaceName, ObjectName } from '../k8s/names.js';
import { resolveHostPath } from '../node/host-paths.js';
import type { ClaimRecord, MountRecord } from '../catalog/records.js';
import { claimKey, describeClaim } from './claims.js';
import type { LocalContext } from './context.js';
import { isReadOnlyClaim, nodeCapability } from './csi-requests.js';
import { UserError } from './errors.js';
import { runSilently } from './progress.js';
import type { StepRunner } from './progress.js';

/** A path as the kernel will record it: absolute, every symlink followed. */
export async function resolveTarget(given: string): Promise<string> {
  try {
    return await resolveHostPath(resolve(given), 'the mount point');
  } catch (error) {
    if (error instanceof DollyError) throw new UserError(error.message);
    throw error;
  }
}

/** The claim (in any namespace) with a mount recorded at `target`, if any. */
async function claimMountedAt(context: LocalContext, target: string): Promise<ClaimRecord | undefined> {
  const claims = await context.catalog.list('PersistentVolumeClaim');
  return claims.find((claim) => claim.mounts.some((mount) => mount.target === target));
}

/**
 * Stages a claim's volume (once, for all its mounts) and publishes it at `target`, as the
 * kubelet does for a pod: NodeStageVolume then NodePublishVolume. The mount is recorded before
 * the calls, so a command killed among them can be undone with `dolly volume umount`.
 */
export async function mountClaim(
  context: LocalContext,
  namespace: NamespaceName,
  name: ObjectName,
  targetGiven: string,
  options: { readOnly: boolean; step?: StepRunner },
): Promise<string> {
  const step = options.step ?? runSilently;
  const target = await resolveTarget(targetGiven);
  const key = claimKey(namespace, name);
  const what = describeClaim(namespace, name);
  const locks = await context.catalog.lock([key]);
  try {
    const record = await context.catalog.get(key);
    if (!record) throw new UserError(`${what} not found`);
    const volume = record.volume;
    if (record.phase !== 'Bound' || !volume)
      throw new UserError(`${what} is not bound yet; apply it again to finish it first`);
    if (record.mounts.some((mount) => mount.target === target))
      throw new UserError(`${what} is already mounted at ${target}`);
    const other = await claimMountedAt(context, target);
    if (other) {
      throw new UserError(
        `${describeClaim(other.object.metadata.namespace, other.object.metadata.name)} is mounted at ${target}; unmount it first or choose another directory`,
      );
    }
    const existing = await findMount(target);
    if (existing) {
      throw new UserError(
        `${target} is already a mount point (of ${existing.source}); choose another directory or unmount it first`,
      );
    }
    const stagingPath = record.stagingPath ?? join(context.stagingRoot, volume.id);
    const readOnly = options.readOnly || isReadOnlyClaim(record);
    const mount: MountRecord = { target, readOnly, state: 'mounting' };
    const firstMount = record.mounts.length === 0;
    let current: ClaimRecord = { ...record, stagingPath, mounts: [...record.mounts, mount] };
    await context.catalog.put(current);
    const capability = nodeCapability(record, volume);
    try {
      if (firstMount) {
        const making =
          record.object.spec.volumeMode === 'Block'
            ? 'attaching'
            : `attaching and mounting (${volume.fsType ?? 'ext4'}; made on first use)`;
        await step(`${making} ${name}`, () =>
          context.client.nodeStageVolume({
            volume_id: volume.id,
            staging_target_path: stagingPath,
            volume_capability: capability,
            volume_context: volume.volumeContext,
            publish_context: {},
          }),
        );
      }
      await context.client.nodePublishVolume({
        volume_id: volume.id,
        staging_target_path: stagingPath,
        target_path: target,
        volume_capability: capability,
        readonly: readOnly,
        volume_context: volume.volumeContext,
        publish_context: {},
      });
    } catch (error) {
      // The driver undoes a failed stage or publish itself; undo the stage this mount made.
      if (firstMount) await unstage(context, volume.id, stagingPath).catch(() => undefined);
      current = { ...record, mounts: record.mounts };
      if (firstMount) delete current.stagingPath;
      await context.catalog.put(current);
      throw context.fail(error, `mounting ${what} at ${target}`);
    }
    current = {
      ...current,
      mounts: current.mounts.map((m) => (m.target === target ? { ...m, state: 'mounted' as const } : m)),
    };
    await context.catalog.put(current);
    return target;
  } finally {
    await locks.release();
  }
}

async function unstage(context: LocalContext, volumeId: string, stagingPath: string): Promise<void> {
  await context.client.nodeUnstageVolume({ volume_id: volumeId, staging_target_path: stagingPath });
  await rmdir(stagingPath).catch((error: unknown) => {
    if (errnoCode(error) !== 'ENOENT') throw error;
  });
}

/**
 * Unmounts what Dolly mounted at a path (NodeUnpublishVolume), and unstages the volume when
 * that was its last mount. Returns the claim it belonged to.
 */
export async function unmountTarget(context: LocalContext, targetGiven: string): Promise<ClaimRecord> {
  const target = await resolveTarget(targetGiven);
  const owner = await claimMountedAt(context, target);
  if (!owner)
    throw new UserError(
      `nothing dolly mounted is at ${target} (dolly volume ls shows where volumes are mounted)`,
    );
  const { namespace, name } = owner.object.metadata;
  return unmountClaim(context, namespace, name, [target]);
}

/** Unmounts a claim at the given targets (all its mounts when `targets` is undefined). */
export async function unmountClaim(
  context: LocalContext,
  namespace: NamespaceName,
  name: ObjectName,
  targets?: string[],
): Promise<ClaimRecord> {
  const key = claimKey(namespace, name);
  const what = describeClaim(namespace, name);
  const locks = await context.catalog.lock([key]);
  try {
    let record = await context.catalog.get(key);
    if (!record) throw new UserError(`${what} not found`);
    const volume = record.volume;
    const leaving = record.mounts.filter((mount) => targets === undefined || targets.includes(mount.target));
    if (leaving.length === 0) {
      throw new UserError(
        targets === undefined ? `${what} is not mounted` : `${what} is not mounted at ${targets.join(', ')}`,
      );
    }
    for (const mount of leaving) {
      if (volume) {
        try {
          await context.client.nodeUnpublishVolume({ volume_id: volume.id, target_path: mount.target });
        } catch (error) {
          throw context.fail(error, `unmounting ${what} from ${mount.target}`);
        }
      }
      record = { ...record, mounts: record.mounts.filter((m) => m.target !== mount.target) };
      await context.catalog.put(record);
    }
    if (record.mounts.length === 0 && record.stagingPath !== undefined) {
      if (volume) {
        try {
          await unstage(context, volume.id, record.stagingPath);
        } catch (error) {
          throw context.fail(error, `unstaging ${what}`);
        }
      }
      record = { ...record };
      delete record.stagingPath;
      await context.catalog.put(record);
    }
    return record;
  } finally {
    await locks.release();
  }
}

/** Whether the kernel still has the recorded mount (after a reboot, it does not). */
export async function isMounted(target: string): Promise<boolean> {
  return (await findMount(target)) !== undefined;
}
