import { Code, DollyError, invalidArgument, notFound } from '../errors.js';
import type { NodeHandlers } from '../generated/csi/v1/Node.js';
import type { NodeServiceCapability } from '../generated/csi/v1/NodeServiceCapability.js';
import type { VolumeCapability__Output } from '../generated/csi/v1/VolumeCapability.js';
import type { AccessSpec, NodeEngine } from '../node/engine.js';
import { validateMountFlags } from '../node/mount-flags.js';
import { ownVolumeId, quote, requireField } from '../pool/ids.js';
import type { Rpc } from './rpc.js';
import { parseCapabilities, parseCapacity } from './validate.js';

export interface NodeOptions {
  engine: NodeEngine;
  nodeId: string;
  topology: Record<string, string>;
}

/** Implemented and not alpha (VOLUME_CONDITION and SINGLE_NODE_MULTI_WRITER are alpha in v1.12). */
const CAPABILITIES: NodeServiceCapability[] = (
  ['STAGE_UNSTAGE_VOLUME', 'GET_VOLUME_STATS', 'EXPAND_VOLUME'] as const
).map((type) => ({ rpc: { type } }));

const READ_ONLY_MODES = new Set(['SINGLE_NODE_READER_ONLY', 'MULTI_NODE_READER_ONLY']);

function parseAccess(capability: VolumeCapability__Output | null): AccessSpec & { readOnlyMode: boolean } {
  if (!capability) throw invalidArgument('volume_capability is required');
  const { mode, fsType } = parseCapabilities([capability]);
  return {
    mode,
    fsType,
    mountFlags: validateMountFlags(capability.mount?.mount_flags ?? []),
    readOnlyMode: READ_ONLY_MODES.has(capability.access_mode?.mode ?? ''),
  };
}

/** The answer for a volume ID that is not Dolly's, where the spec has NOT_FOUND for a missing volume. */
function noSuchVolume(value: string): DollyError {
  return notFound(`volume ${quote(value)} does not exist`);
}

/**
 * Every RPC checks its required fields first (INVALID_ARGUMENT), then the values it will act on
 * (paths, flags), and only then looks the volume up. An ID that is not Dolly's is the ID of no
 * volume: NOT_FOUND where the spec says so, OK for unstage and unpublish (there is nothing to
 * undo), and no path is ever built from it.
 */
export function nodeService(rpc: Rpc, options: NodeOptions): NodeHandlers {
  const { engine } = options;

  return {
    NodeGetCapabilities: rpc('NodeGetCapabilities', () => Promise.resolve({ capabilities: CAPABILITIES })),

    // Loop devices are created on demand, so the number of volumes is not limited here (0).
    NodeGetInfo: rpc('NodeGetInfo', () =>
      Promise.resolve({
        node_id: options.nodeId,
        max_volumes_per_node: 0,
        accessible_topology: { segments: options.topology },
      }),
    ),

    NodeStageVolume: rpc('NodeStageVolume', async (request, { signal }) => {
      const id = ownVolumeId(request.volume_id);
      requireField(request.staging_target_path, 'staging_target_path');
      const access = parseAccess(request.volume_capability);
      const stagingPath = await engine.hostPath(request.staging_target_path, 'staging_target_path');
      if (!id) throw noSuchVolume(request.volume_id);
      await engine.stage(id, stagingPath, access, signal);
      return {};
    }),

    NodeUnstageVolume: rpc('NodeUnstageVolume', async (request, { signal }) => {
      const id = ownVolumeId(request.volume_id);
      requireField(request.staging_target_path, 'staging_target_path');
      const stagingPath = await engine.hostPath(request.staging_target_path, 'staging_target_path');
      if (id) await engine.unstage(id, stagingPath, signal);
      return {};
    }),

    NodePublishVolume: rpc('NodePublishVolume', async (request, { signal }) => {
      const id = ownVolumeId(request.volume_id);
      requireField(request.target_path, 'target_path');
      const access = parseAccess(request.volume_capability);
      if (request.staging_target_path === '') {
        throw new DollyError(
          Code.FAILED_PRECONDITION,
          'staging_target_path is required: Dolly stages volumes (STAGE_UNSTAGE_VOLUME)',
        );
      }
      const targetPath = await engine.hostPath(request.target_path, 'target_path');
      const stagingPath = await engine.hostPath(request.staging_target_path, 'staging_target_path');
      if (!id) throw noSuchVolume(request.volume_id);
      await engine.publish(
        id,
        stagingPath,
        targetPath,
        { ...access, readOnly: request.readonly || access.readOnlyMode },
        signal,
      );
      return {};
    }),

    NodeUnpublishVolume: rpc('NodeUnpublishVolume', async (request, { signal }) => {
      const id = ownVolumeId(request.volume_id);
      requireField(request.target_path, 'target_path');
      const targetPath = await engine.hostPath(request.target_path, 'target_path');
      if (id) await engine.unpublish(id, targetPath, signal);
      return {};
    }),

    NodeGetVolumeStats: rpc('NodeGetVolumeStats', async (request) => {
      const id = ownVolumeId(request.volume_id);
      requireField(request.volume_path, 'volume_path');
      if (!id) throw noSuchVolume(request.volume_id);
      // volume_path is a lookup: a path where nothing is, or that is not absolute, holds no volume.
      const volumePath = await engine.findPath(request.volume_path);
      if (volumePath === undefined) {
        throw notFound(`volume ${id} is not staged or published at ${quote(request.volume_path)}`);
      }
      const stats = await engine.stats(id, volumePath);
      // volume_condition is an alpha field (VOLUME_CONDITION is not advertised); it is filled in
      // anyway, since a CO that does not know it ignores it.
      const healthy = { abnormal: false, message: 'attached and mounted' };
      if (stats.kind === 'abnormal') {
        return { usage: [], volume_condition: { abnormal: true, message: stats.message } };
      }
      if (stats.kind === 'block') {
        return { usage: [{ unit: 'BYTES', total: stats.totalBytes }], volume_condition: healthy };
      }
      return {
        usage: [
          { unit: 'BYTES', total: stats.totalBytes, available: stats.availableBytes, used: stats.usedBytes },
          {
            unit: 'INODES',
            total: stats.totalInodes,
            available: stats.freeInodes,
            used: stats.totalInodes - stats.freeInodes,
          },
        ],
        volume_condition: healthy,
      };
    }),

    NodeExpandVolume: rpc('NodeExpandVolume', async (request, { signal }) => {
      const id = ownVolumeId(request.volume_id);
      requireField(request.volume_path, 'volume_path');
      const range = parseCapacity(request.capacity_range);
      if (!id) throw noSuchVolume(request.volume_id);
      const volumePath = await engine.findPath(request.volume_path);
      if (volumePath === undefined) {
        throw notFound(`volume ${id} is not staged or published at ${quote(request.volume_path)}`);
      }
      return { capacity_bytes: await engine.expand(id, volumePath, range, signal) };
    }),
  };
}
