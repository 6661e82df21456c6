import type {
  Namespace,
  PersistentVolumeClaim,
  StorageClass,
  VolumeMode,
  VolumeSnapshot,
  VolumeSnapshotClass,
} from '../k8s/objects.js';

/**
 * What the `dolly` command keeps per object, beside the pool: the object as applied, and what
 * Kubernetes would keep in its status and in the bound PersistentVolume / VolumeSnapshotContent.
 * Written whole and atomically; a record in phase Pending is an apply that has not finished
 * (the next apply of the same object, or its delete, finishes it).
 */

export type FsType = 'ext4' | 'xfs';

/** A path where the volume is published, and whether the publish has completed. */
export interface MountRecord {
  target: string;
  readOnly: boolean;
  /** 'mounting': recorded before the publish, so a command killed during it can be undone. */
  state: 'mounting' | 'mounted';
}

export interface BoundVolume {
  /** The CSI volume ID. */
  id: string;
  capacityBytes: number;
  /** Filesystem of a Filesystem-mode volume (what NodeStage is asked to make); undefined for Block. */
  fsType: FsType | undefined;
  mountOptions: string[];
  volumeContext: Record<string, string>;
}

export interface ClaimRecord {
  version: 1;
  kind: 'PersistentVolumeClaim';
  object: PersistentVolumeClaim;
  uid: string;
  createdAt: string;
  phase: 'Pending' | 'Bound';
  /** The class the claim was provisioned with (its own or the default at the time). */
  storageClassName: string;
  /** The lineage: what it was cloned or restored from, as named when it was made. */
  source?: { kind: 'PersistentVolumeClaim' | 'VolumeSnapshot'; name: string };
  volume?: BoundVolume;
  /** Where the volume is staged on this host while it has mounts. */
  stagingPath?: string;
  mounts: MountRecord[];
}

export interface SnapshotRecord {
  version: 1;
  kind: 'VolumeSnapshot';
  object: VolumeSnapshot;
  uid: string;
  createdAt: string;
  phase: 'Pending' | 'Ready';
  snapshotClassName: string;
  snapshot?: {
    /** The CSI snapshot ID. */
    id: string;
    restoreBytes: number;
    sourceVolumeId: string;
    /** The source claim's mode, class and filesystem: a restore takes them over. */
    volumeMode: VolumeMode;
    fsType: FsType | undefined;
    sourceStorageClassName: string;
    creationTime: string;
  };
}

export interface StorageClassRecord {
  version: 1;
  kind: 'StorageClass';
  object: StorageClass;
  createdAt: string;
}

export interface SnapshotClassRecord {
  version: 1;
  kind: 'VolumeSnapshotClass';
  object: VolumeSnapshotClass;
  createdAt: string;
}

export interface NamespaceRecord {
  version: 1;
  kind: 'Namespace';
  object: Namespace;
  createdAt: string;
}

export type CatalogRecord =
  ClaimRecord | SnapshotRecord | StorageClassRecord | SnapshotClassRecord | NamespaceRecord;
export type RecordKind = CatalogRecord['kind'];
