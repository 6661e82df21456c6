import { Code, DollyError, invalidArgument, notFound } from '../errors.js';
import type { CapacityRange__Output } from '../generated/csi/v1/CapacityRange.js';
import type { TopologyRequirement__Output } from '../generated/csi/v1/TopologyRequirement.js';
import type { VolumeCapability__Output } from '../generated/csi/v1/VolumeCapability.js';
import type { VolumeContentSource__Output } from '../generated/csi/v1/VolumeContentSource.js';
import type { CapacityRange } from '../pool/capacity.js';
import { validateCapacityRange } from '../pool/capacity.js';
import { ownSnapshotId, ownVolumeId, quote } from '../pool/ids.js';
import type { ContentSource, FsType, VolumeMode } from '../pool/meta.js';
import { FS_TYPES } from '../pool/meta.js';
import { COPY_CONSISTENCIES } from '../pool/freeze.js';
import type { CopyConsistency } from '../pool/freeze.js';

/** Access modes a volume on one node's pool can honour. Multi-node modes need shared storage. */
export const SUPPORTED_ACCESS_MODES = [
  'SINGLE_NODE_WRITER',
  'SINGLE_NODE_READER_ONLY',
  'SINGLE_NODE_SINGLE_WRITER',
  'SINGLE_NODE_MULTI_WRITER',
] as const;

/** Parameter prefix that the Kubernetes external-provisioner adds (--extra-create-metadata). */
const KUBERNETES_PARAMETER_PREFIX = 'csi.storage.k8s.io/';

/**
 * How a copy of a volume in use is taken (a StorageClass's parameter for clones into it, a
 * VolumeSnapshotClass's for snapshots): `frozen` (the default) freezes the source's filesystem
 * for the instant of the copy; `crash` does not, and the copy is what a power cut would leave.
 */
export const CONSISTENCY_PARAMETER = 'dolly.csi.dev/consistency';
const DOLLY_PARAMETERS: Record<string, readonly string[]> = {
  [CONSISTENCY_PARAMETER]: COPY_CONSISTENCIES,
};

export interface RequestedCapabilities {
  mode: VolumeMode;
  /** undefined when no capability names a filesystem type. */
  fsType: FsType | undefined;
}

/**
 * Checks one capability; returns a reason it is unsupported, or undefined. Shared by
 * CreateVolume (which fails on a reason) and ValidateVolumeCapabilities (which reports it).
 */
export function unsupportedReason(capability: VolumeCapability__Output, index: number): string | undefined {
  const where = `volume_capabilities[${index}]`;
  const mode = capability.access_mode?.mode;
  if (mode === undefined || mode === 'UNKNOWN') return `${where}.access_mode is required`;
  if (!(SUPPORTED_ACCESS_MODES as readonly string[]).includes(mode)) {
    return `${where}: access mode ${mode} is not supported; a Dolly volume lives on one node, so use one of ${SUPPORTED_ACCESS_MODES.join(', ')}`;
  }
  if (capability.access_type === 'mount') {
    const fsType = capability.mount?.fs_type ?? '';
    if (fsType !== '' && !(FS_TYPES as readonly string[]).includes(fsType)) {
      return `${where}: filesystem type ${quote(fsType)} is not supported; use one of ${FS_TYPES.join(', ')}`;
    }
    if ((capability.mount?.volume_mount_group ?? '') !== '') {
      return `${where}: volume_mount_group is not supported`;
    }
    return undefined;
  }
  if (capability.access_type === 'block') return undefined;
  return `${where}: access_type (block or mount) is required`;
}

/** The volume mode and filesystem a set of capabilities asks for; INVALID_ARGUMENT when unsupported. */
export function parseCapabilities(capabilities: VolumeCapability__Output[]): RequestedCapabilities {
  if (capabilities.length === 0) throw invalidArgument('volume_capabilities is required');
  let mode: VolumeMode | undefined;
  let fsType: FsType | undefined;
  capabilities.forEach((capability, index) => {
    const reason = unsupportedReason(capability, index);
    if (reason) throw invalidArgument(reason);
    const thisMode: VolumeMode = capability.access_type === 'block' ? 'block' : 'mount';
    if (mode && mode !== thisMode) {
      throw invalidArgument('volume_capabilities mix block and mount access; a volume is one or the other');
    }
    mode = thisMode;
    const thisFs = (capability.mount?.fs_type ?? '') as FsType | '';
    if (thisFs !== '') {
      if (fsType && fsType !== thisFs) {
        throw invalidArgument(`volume_capabilities ask for two filesystems (${fsType} and ${thisFs})`);
      }
      fsType = thisFs;
    }
  });
  return { mode: mode ?? 'mount', fsType };
}

export function parseCapacity(range: CapacityRange__Output | null): CapacityRange {
  if (!range) return { requiredBytes: 0, limitBytes: 0 };
  return validateCapacityRange({ requiredBytes: range.required_bytes, limitBytes: range.limit_bytes });
}

/**
 * The content source of a CreateVolume. An ID that is not Dolly's names a source that does not
 * exist: NOT_FOUND, as for any missing source (an empty one is INVALID_ARGUMENT).
 */
export function parseContentSource(source: VolumeContentSource__Output | null): ContentSource | undefined {
  if (!source) return undefined;
  if (source.type === 'volume' && source.volume) {
    const value = source.volume.volume_id;
    const volumeId = ownVolumeId(value, 'volume_content_source.volume.volume_id');
    if (!volumeId) throw notFound(`source volume ${quote(value)} does not exist`);
    return { kind: 'volume', volumeId };
  }
  if (source.type === 'snapshot' && source.snapshot) {
    const value = source.snapshot.snapshot_id;
    const snapshotId = ownSnapshotId(value, 'volume_content_source.snapshot.snapshot_id');
    if (!snapshotId) throw notFound(`snapshot ${quote(value)} does not exist`);
    return { kind: 'snapshot', snapshotId };
  }
  throw invalidArgument('volume_content_source names neither a volume nor a snapshot');
}

/**
 * Dolly's own parameters with a value it knows, and the metadata Kubernetes adds. An unknown
 * key is most likely a typo in a StorageClass, and silently ignoring it would hide that.
 */
export function parseParameters(
  parameters: Record<string, string>,
  field = 'parameters',
): Record<string, string> {
  const unknown = Object.keys(parameters).filter(
    (key) => !key.startsWith(KUBERNETES_PARAMETER_PREFIX) && !Object.hasOwn(DOLLY_PARAMETERS, key),
  );
  if (unknown.length > 0) {
    throw invalidArgument(
      `unknown ${field} ${unknown.map(quote).join(', ')}; Dolly accepts ${Object.keys(DOLLY_PARAMETERS).map(quote).join(', ')} and ${KUBERNETES_PARAMETER_PREFIX}* keys`,
    );
  }
  for (const [key, values] of Object.entries(DOLLY_PARAMETERS)) {
    const value = parameters[key];
    if (value !== undefined && !values.includes(value)) {
      throw invalidArgument(
        `${field} ${quote(key)} is ${quote(value)}; it must be one of ${values.map(quote).join(', ')}`,
      );
    }
  }
  return { ...parameters };
}

/** The copy consistency checked parameters ask for (parseParameters first). */
export function copyConsistency(parameters: Record<string, string>): CopyConsistency {
  return parameters[CONSISTENCY_PARAMETER] === 'crash' ? 'crash' : 'frozen';
}

/**
 * Checks that a volume on this node satisfies the topology requirement: a requisite list that
 * excludes this node cannot be met here (RESOURCE_EXHAUSTED); a key Dolly never reported is a
 * malformed request (INVALID_ARGUMENT). Preferred topologies are only a preference.
 */
export function checkTopology(
  requirement: TopologyRequirement__Output | null,
  own: Record<string, string>,
): void {
  if (!requirement) return;
  const all = [...requirement.requisite, ...requirement.preferred];
  for (const topology of all) {
    for (const key of Object.keys(topology.segments)) {
      if (!Object.hasOwn(own, key)) {
        throw invalidArgument(
          `accessibility_requirements use the topology key ${quote(key)}; Dolly's only key is ${Object.keys(own).join(', ')}`,
        );
      }
    }
  }
  if (requirement.requisite.length === 0) return;
  const matches = requirement.requisite.some((topology) =>
    Object.entries(topology.segments).every(([key, value]) => own[key] === value),
  );
  if (!matches) {
    const wanted = requirement.requisite.map((topology) => JSON.stringify(topology.segments)).join(', ');
    throw new DollyError(
      Code.RESOURCE_EXHAUSTED,
      `this driver provisions only on its own node ${JSON.stringify(own)}, which is not in the requisite topologies ${wanted}`,
    );
  }
}

export function parseMaxEntries(value: number): number {
  if (!Number.isSafeInteger(value) || value < 0)
    throw invalidArgument(`max_entries must not be negative (got ${value})`);
  return value;
}
