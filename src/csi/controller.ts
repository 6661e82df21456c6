import { Code, DollyError, invalidArgument, notFound } from '../errors.js';
import type { ControllerHandlers } from '../generated/csi/v1/Controller.js';
import type { ControllerServiceCapability } from '../generated/csi/v1/ControllerServiceCapability.js';
import type { Snapshot } from '../generated/csi/v1/Snapshot.js';
import type { Volume } from '../generated/csi/v1/Volume.js';
import type { VolumeCapability__Output } from '../generated/csi/v1/VolumeCapability.js';
import type { VolumeContentSource } from '../generated/csi/v1/VolumeContentSource.js';
import { isSnapshotId, isVolumeId, ownSnapshotId, ownVolumeId, quote, validateName } from '../pool/ids.js';
import type { ContentSource, SnapshotMeta, VolumeMeta } from '../pool/meta.js';
import type { Pool } from '../pool/pool.js';
import { notImplemented } from './rpc.js';
import type { Rpc } from './rpc.js';
import {
  checkTopology,
  parseCapabilities,
  parseCapacity,
  parseContentSource,
  parseMaxEntries,
  copyConsistency,
  parseParameters,
  unsupportedReason,
} from './validate.js';

export interface ControllerOptions {
  pool: Pool;
  /** This node's topology segments, e.g. { "topology.dolly.csi.dev/node": "worker-1" }. */
  topology: Record<string, string>;
  /**
   * 'node': volumes grow only through NodeExpandVolume, and EXPAND_VOLUME is not advertised, so
   * the Kubernetes external-resizer takes its path for drivers without controller expansion (it
   * marks the volume resized and the kubelet calls NodeExpandVolume on the node that holds the
   * image). For node-local pools in a cluster, where no central controller can reach the image.
   */
  expansion: 'controller' | 'node';
}

/**
 * Exactly what is implemented, each once. Alpha capabilities are never advertised: so
 * ControllerGetVolume answers, but GET_VOLUME (alpha in CSI v1.12) is not announced, and the
 * single-node single/multi-writer access modes are accepted without announcing
 * SINGLE_NODE_MULTI_WRITER (alpha too).
 */
function capabilities(expansion: ControllerOptions['expansion']): ControllerServiceCapability[] {
  return (
    [
      'CREATE_DELETE_VOLUME',
      'CLONE_VOLUME',
      'LIST_VOLUMES',
      'GET_CAPACITY',
      ...(expansion === 'controller' ? (['EXPAND_VOLUME'] as const) : []),
      'CREATE_DELETE_SNAPSHOT',
      'LIST_SNAPSHOTS',
    ] as const
  ).map((type) => ({ rpc: { type } }));
}

/**
 * One page of a list sorted by ID. The token is the ID of the next item, so objects deleted
 * between pages do not shift the pages that follow.
 */
function paginate<T extends { id: string }>(
  items: T[],
  request: { max_entries: number; starting_token: string },
  isOurId: (value: string) => boolean,
): { items: T[]; nextToken: string } {
  const maxEntries = parseMaxEntries(request.max_entries);
  const token = request.starting_token;
  if (token !== '' && !isOurId(token)) {
    throw new DollyError(
      Code.ABORTED,
      `starting_token ${quote(token)} was not issued by Dolly; start again without it`,
    );
  }
  const start = token === '' ? 0 : items.findIndex((item) => item.id >= token);
  const from = start < 0 ? items.length : start;
  const to = maxEntries > 0 ? Math.min(from + maxEntries, items.length) : items.length;
  return { items: items.slice(from, to), nextToken: items[to]?.id ?? '' };
}

function toCsiSnapshot(snapshot: SnapshotMeta): Snapshot {
  const created = Date.parse(snapshot.createdAt);
  return {
    snapshot_id: snapshot.id,
    source_volume_id: snapshot.sourceVolumeId,
    size_bytes: snapshot.sizeBytes,
    creation_time: { seconds: Math.floor(created / 1000), nanos: (created % 1000) * 1e6 },
    // A reflink is complete the moment it returns: there is no upload or copy to wait for.
    ready_to_use: true,
    group_snapshot_id: '',
  };
}

function toCsiSource(source: ContentSource | undefined): VolumeContentSource | null {
  if (!source) return null;
  return source.kind === 'volume'
    ? { volume: { volume_id: source.volumeId } }
    : { snapshot: { snapshot_id: source.snapshotId } };
}

/**
 * An ID that is not Dolly's is the ID of nothing: where the spec answers NOT_FOUND for a
 * missing object, this is that answer (deletes answer OK instead). Required fields are checked
 * before it, and no path is ever built from such a value.
 */
function noSuchVolume(value: string, what = 'volume'): DollyError {
  return notFound(`${what} ${quote(value)} does not exist`);
}

/**
 * The external-provisioner's capacity controller asks GetCapacity with access mode UNKNOWN,
 * meaning "whatever mode a volume will be used in": the capacity for every mode Dolly serves,
 * which is the same pool. Such a capability is read as the plain single-node writer.
 */
function anyAccessModeIfUnspecified(capability: VolumeCapability__Output): VolumeCapability__Output {
  const mode = capability.access_mode?.mode;
  if (mode !== undefined && mode !== 'UNKNOWN') return capability;
  return { ...capability, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
}

export function controllerService(rpc: Rpc, options: ControllerOptions): ControllerHandlers {
  const { pool, topology } = options;

  const toCsiVolume = (meta: VolumeMeta): Volume => ({
    volume_id: meta.id,
    capacity_bytes: meta.sizeBytes,
    volume_context: {},
    content_source: toCsiSource(meta.contentSource),
    accessible_topology: [{ segments: topology }],
  });

  return {
    ControllerGetCapabilities: rpc('ControllerGetCapabilities', () =>
      Promise.resolve({ capabilities: capabilities(options.expansion) }),
    ),

    CreateVolume: rpc('CreateVolume', async (request, { signal }) => {
      validateName(request.name);
      if (Object.keys(request.mutable_parameters).length > 0) {
        throw invalidArgument(
          'mutable_parameters are not supported (Dolly does not advertise MODIFY_VOLUME)',
        );
      }
      const capabilities = parseCapabilities(request.volume_capabilities);
      const parameters = parseParameters(request.parameters);
      checkTopology(request.accessibility_requirements, topology);
      const meta = await pool.createVolume(
        {
          name: request.name,
          capacity: parseCapacity(request.capacity_range),
          mode: capabilities.mode,
          fsType: capabilities.fsType,
          parameters,
          source: parseContentSource(request.volume_content_source),
          consistency: copyConsistency(parameters),
        },
        signal,
      );
      return { volume: toCsiVolume(meta) };
    }),

    DeleteVolume: rpc('DeleteVolume', async (request, { signal }) => {
      const id = ownVolumeId(request.volume_id);
      // An ID that is not Dolly's names no volume: it is already deleted.
      if (id) await pool.deleteVolume(id, signal);
      return {};
    }),

    ValidateVolumeCapabilities: rpc('ValidateVolumeCapabilities', async (request) => {
      const id = ownVolumeId(request.volume_id);
      if (request.volume_capabilities.length === 0) throw invalidArgument('volume_capabilities is required');
      const meta = id && (await pool.getVolume(id));
      if (!meta) throw noSuchVolume(request.volume_id);
      const reasons: string[] = [];
      request.volume_capabilities.forEach((capability, index) => {
        const reason = unsupportedReason(capability, index);
        if (reason) return void reasons.push(reason);
        const mode = capability.access_type === 'block' ? 'block' : 'mount';
        if (mode !== meta.mode)
          reasons.push(
            `volume_capabilities[${index}] asks for ${mode} access but the volume is a ${meta.mode} volume`,
          );
        const fsType = capability.mount?.fs_type ?? '';
        if (mode === 'mount' && fsType !== '' && fsType !== meta.fsType) {
          reasons.push(
            `volume_capabilities[${index}] asks for ${fsType} but the volume holds ${meta.fsType ?? 'no filesystem'}`,
          );
        }
      });
      for (const [key, value] of Object.entries(request.volume_context)) {
        reasons.push(`volume_context ${quote(key)}=${quote(value)} is not one Dolly gave this volume`);
      }
      try {
        parseParameters(request.parameters);
      } catch (error) {
        reasons.push(error instanceof Error ? error.message : String(error));
      }
      if (Object.keys(request.mutable_parameters).length > 0)
        reasons.push('mutable_parameters are not supported');
      if (reasons.length > 0) return { confirmed: null, message: reasons.join('; ') };
      return {
        confirmed: {
          volume_context: request.volume_context,
          volume_capabilities: request.volume_capabilities,
          parameters: request.parameters,
          mutable_parameters: request.mutable_parameters,
        },
        message: '',
      };
    }),

    ListVolumes: rpc('ListVolumes', async (request) => {
      // Paged by ID first: a page reads only its own records.
      const ids = await pool.listVolumeIds();
      const page = paginate(
        ids.map((id) => ({ id })),
        request,
        isVolumeId,
      );
      const metas = await pool.getVolumes(page.items.map((item) => item.id));
      return {
        entries: metas.map((meta) => ({ volume: toCsiVolume(meta), status: {} })),
        next_token: page.nextToken,
      };
    }),

    GetCapacity: rpc('GetCapacity', async (request) => {
      const stats = await pool.stats();
      // Volumes this node cannot make (another node, unsupported capability or parameters) have
      // no capacity here: both figures are 0, since the Kubernetes scheduler trusts
      // maximum_volume_size over available_capacity when both are given.
      let usable = true;
      try {
        if (request.volume_capabilities.length > 0) {
          parseCapabilities(request.volume_capabilities.map(anyAccessModeIfUnspecified));
        }
        parseParameters(request.parameters);
        if (request.accessible_topology) {
          checkTopology({ requisite: [request.accessible_topology], preferred: [] }, topology);
        }
      } catch {
        usable = false;
      }
      // A new volume must fit in the space available now (CreateVolume is RESOURCE_EXHAUSTED
      // otherwise), so that is also the largest one that can be made.
      const largest = Math.min(stats.totalBytes, stats.availableBytes);
      return {
        available_capacity: usable ? stats.availableBytes : 0,
        maximum_volume_size: { value: usable ? largest : 0 },
        minimum_volume_size: null,
      };
    }),

    ControllerGetVolume: rpc('ControllerGetVolume', async (request) => {
      const id = ownVolumeId(request.volume_id);
      const meta = id && (await pool.getVolume(id));
      if (!meta) throw noSuchVolume(request.volume_id);
      return { volume: toCsiVolume(meta), status: {} };
    }),

    ControllerPublishVolume: notImplemented(rpc, 'ControllerPublishVolume'),
    ControllerUnpublishVolume: notImplemented(rpc, 'ControllerUnpublishVolume'),
    CreateSnapshot: rpc('CreateSnapshot', async (request, { signal }) => {
      validateName(request.name);
      const sourceVolumeId = ownVolumeId(request.source_volume_id, 'source_volume_id');
      const parameters = parseParameters(request.parameters);
      if (!sourceVolumeId) throw noSuchVolume(request.source_volume_id, 'source volume');
      const snapshot = await pool.createSnapshot(
        { name: request.name, sourceVolumeId, parameters, consistency: copyConsistency(parameters) },
        signal,
      );
      return { snapshot: toCsiSnapshot(snapshot) };
    }),

    DeleteSnapshot: rpc('DeleteSnapshot', async (request, { signal }) => {
      const id = ownSnapshotId(request.snapshot_id);
      // An ID that is not Dolly's names no snapshot: it is already deleted.
      if (id) await pool.deleteSnapshot(id, signal);
      return {};
    }),

    ListSnapshots: rpc('ListSnapshots', async (request) => {
      let snapshots = await pool.listSnapshots();
      // Filters select; an ID that is not Dolly's matches nothing (the spec answers an empty list).
      if (request.snapshot_id !== '')
        snapshots = snapshots.filter((snapshot) => snapshot.id === request.snapshot_id);
      if (request.source_volume_id !== '') {
        snapshots = snapshots.filter((snapshot) => snapshot.sourceVolumeId === request.source_volume_id);
      }
      const page = paginate(snapshots, request, isSnapshotId);
      return {
        entries: page.items.map((snapshot) => ({ snapshot: toCsiSnapshot(snapshot) })),
        next_token: page.nextToken,
      };
    }),
    GetSnapshot: notImplemented(rpc, 'GetSnapshot'),
    ControllerExpandVolume: rpc('ControllerExpandVolume', async (request, { signal }) => {
      if (options.expansion === 'node') {
        throw new DollyError(
          Code.UNIMPLEMENTED,
          'this driver runs with --expansion node: EXPAND_VOLUME is not advertised, and volumes grow on their node (NodeExpandVolume)',
        );
      }
      const id = ownVolumeId(request.volume_id);
      if (!request.capacity_range) throw invalidArgument('capacity_range is required');
      const range = parseCapacity(request.capacity_range);
      if (!id) throw noSuchVolume(request.volume_id);
      const meta = await pool.expandVolume(id, range, signal);
      // The node must follow in both modes: a mounted filesystem grows, and a block volume's
      // loop device must see the larger image.
      return { capacity_bytes: meta.sizeBytes, node_expansion_required: true };
    }),
    ControllerModifyVolume: notImplemented(rpc, 'ControllerModifyVolume'),
  };
}
