import { Code, DollyError, invalidArgument } from '../errors.js';
import type { NodeHandlers } from '../generated/csi/v1/Node.js';
import type { NodeServiceCapability } from '../generated/csi/v1/NodeServiceCapability.js';
import type { VolumeCapability__Output } from '../generated/csi/v1/VolumeCapability.js';
import type { AccessSpec, NodeEngine } from '../node/engine.js';
import { validateHostPath } from '../node/host-paths.js';
import { validateMountFlags } from '../node/mount-flags.js';
import { parseVolumeId } from '../pool/ids.js';
import type { Pool } from '../pool/pool.js';
import type { Rpc } from './rpc.js';
import { parseCapabilities, parseCapacity } from './validate.js';

export interface NodeOptions {
  engine: NodeEngine;
  pool: Pool;
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

export function nodeService(rpc: Rpc, options: NodeOptions): NodeHandlers {
  const { engine, pool } = options;
  const path = (value: string, field: string) => validateHostPath(value, field, pool.root);

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
      const id = parseVolumeId(request.volume_id);
      const stagingPath = path(request.staging_target_path, 'staging_target_path');
      const access = parseAccess(request.volume_capability);
      await engine.stage(id, stagingPath, access, signal);
      return {};
    }),

    NodeUnstageVolume: rpc('NodeUnstageVolume', async (request, { signal }) => {
      const id = parseVolumeId(request.volume_id);
      await engine.unstage(id, path(request.staging_target_path, 'staging_target_path'), signal);
      return {};
    }),

    NodePublishVolume: rpc('NodePublishVolume', async (request, { signal }) => {
      const id = parseVolumeId(request.volume_id);
      const targetPath = path(request.target_path, 'target_path');
      const access = parseAccess(request.volume_capability);
      if (request.staging_target_path === '') {
        throw new DollyError(
          Code.FAILED_PRECONDITION,
          'staging_target_path is required: Dolly stages volumes (STAGE_UNSTAGE_VOLUME)',
        );
      }
      const stagingPath = path(request.staging_target_path, 'staging_target_path');
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
      const id = parseVolumeId(request.volume_id);
      await engine.unpublish(id, path(request.target_path, 'target_path'), signal);
      return {};
    }),

    NodeGetVolumeStats: rpc('NodeGetVolumeStats', async (request) => {
      const id = parseVolumeId(request.volume_id);
      const stats = await engine.stats(id, path(request.volume_path, 'volume_path'));
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
      const id = parseVolumeId(request.volume_id);
      const volumePath = path(request.volume_path, 'volume_path');
      const range = parseCapacity(request.capacity_range);
      const meta = await pool.getVolume(id);
      if (meta && range.requiredBytes > meta.sizeBytes) {
        throw new DollyError(
          Code.OUT_OF_RANGE,
          `volume ${id} is ${meta.sizeBytes} bytes; grow it with ControllerExpandVolume before asking the node for ${range.requiredBytes}`,
        );
      }
      return { capacity_bytes: await engine.expand(id, volumePath, signal) };
    }),
  };
}
