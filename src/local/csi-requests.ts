import type { VolumeCapability } from '../generated/csi/v1/VolumeCapability.js';
import type { AccessMode, VolumeMode } from '../k8s/objects.js';
import type { BoundVolume, ClaimRecord, FsType } from '../catalog/records.js';

/**
 * How Kubernetes turns claims into CSI requests, done the same way here: access modes as the
 * external-provisioner and kubelet map them (for a driver without SINGLE_NODE_MULTI_WRITER),
 * the class's parameters without the reserved csi.storage.k8s.io/ keys, plus the claim's
 * metadata as --extra-create-metadata adds it.
 */

const CSI_ACCESS_MODE: Record<AccessMode, string> = {
  ReadWriteOnce: 'SINGLE_NODE_WRITER',
  ReadWriteOncePod: 'SINGLE_NODE_WRITER',
  ReadOnlyMany: 'MULTI_NODE_READER_ONLY',
  ReadWriteMany: 'MULTI_NODE_MULTI_WRITER',
};

export const RESERVED_PARAMETER_PREFIX = 'csi.storage.k8s.io/';
export const FS_TYPE_PARAMETER = 'csi.storage.k8s.io/fstype';
export const FS_TYPES: readonly FsType[] = ['ext4', 'xfs'];

export function volumeCapability(
  accessMode: AccessMode,
  volumeMode: VolumeMode,
  fsType: FsType | undefined,
  mountFlags: string[],
): VolumeCapability {
  const access_mode = { mode: CSI_ACCESS_MODE[accessMode] as 'SINGLE_NODE_WRITER' };
  return volumeMode === 'Block'
    ? { access_mode, block: {} }
    : { access_mode, mount: { fs_type: fsType ?? '', mount_flags: mountFlags } };
}

/** One capability per access mode, as the external-provisioner asks. */
export function volumeCapabilities(
  accessModes: AccessMode[],
  volumeMode: VolumeMode,
  fsType: FsType | undefined,
  mountFlags: string[],
): VolumeCapability[] {
  return accessModes.map((mode) => volumeCapability(mode, volumeMode, fsType, mountFlags));
}

/** The capability node operations on a claim's volume use (the kubelet uses the first mode). */
export function nodeCapability(record: ClaimRecord, volume: BoundVolume): VolumeCapability {
  const mode = record.object.spec.accessModes[0] ?? 'ReadWriteOnce';
  return volumeCapability(mode, record.object.spec.volumeMode, volume.fsType, volume.mountOptions);
}

export function isReadOnlyClaim(record: ClaimRecord): boolean {
  return record.object.spec.accessModes.every((mode) => mode === 'ReadOnlyMany');
}

export function driverParameters(
  classParameters: Record<string, string>,
  metadata: Record<string, string>,
): Record<string, string> {
  const kept = Object.entries(classParameters).filter(([key]) => !key.startsWith(RESERVED_PARAMETER_PREFIX));
  return { ...Object.fromEntries(kept), ...metadata };
}
