import { stat } from 'node:fs/promises';
import type { NamespaceName } from '../k8s/names.js';
import { DEFAULT_SNAPSHOT_CLASS_ANNOTATION, DEFAULT_STORAGE_CLASS_ANNOTATION } from '../k8s/objects.js';
import type { AccessMode } from '../k8s/objects.js';
import { formatQuantity } from '../k8s/quantity.js';
import { isSnapshotId, isVolumeId } from '../pool/ids.js';
import { PoolLayout } from '../pool/layout.js';
import type { ClaimRecord, SnapshotRecord } from '../catalog/records.js';
import type { LocalContext } from './context.js';
import { isMounted } from './mounts.js';

/**
 * What the read commands show, built from the catalog, the driver's pool and the kernel: rows
 * for tables, Kubernetes-shaped objects for -o json/yaml, and the lineage tree.
 */

export interface VolumeView {
  namespace: string;
  name: string;
  phase: 'Pending' | 'Bound';
  requested: string;
  capacityBytes: number | undefined;
  /** Bytes of the volume's image the pool filesystem has allocated (shared blocks included). */
  usedBytes: number | undefined;
  volumeMode: 'Filesystem' | 'Block';
  fsType: string | undefined;
  accessModes: AccessMode[];
  source: { kind: 'PersistentVolumeClaim' | 'VolumeSnapshot'; name: string } | undefined;
  storageClassName: string;
  mounts: { target: string; readOnly: boolean; state: 'mounted' | 'mounting' | 'stale' }[];
  volumeId: string | undefined;
  uid: string;
  createdAt: string;
}

export interface SnapshotView {
  namespace: string;
  name: string;
  readyToUse: boolean;
  sourceClaim: string;
  restoreBytes: number | undefined;
  usedBytes: number | undefined;
  snapshotClassName: string;
  snapshotId: string | undefined;
  uid: string;
  createdAt: string;
}

async function allocatedBytes(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).blocks * 512;
  } catch {
    return undefined;
  }
}

export async function volumeViews(
  context: LocalContext,
  namespace: NamespaceName | undefined,
): Promise<VolumeView[]> {
  const layout = new PoolLayout(context.poolRoot);
  const records = await context.catalog.list('PersistentVolumeClaim', namespace);
  return Promise.all(records.map((record) => volumeView(layout, record)));
}

async function volumeView(layout: PoolLayout, record: ClaimRecord): Promise<VolumeView> {
  const id = record.volume?.id;
  const mounts = await Promise.all(
    record.mounts.map(async (mount) => ({
      target: mount.target,
      readOnly: mount.readOnly,
      state:
        mount.state === 'mounting'
          ? ('mounting' as const)
          : (await isMounted(mount.target))
            ? ('mounted' as const)
            : ('stale' as const),
    })),
  );
  return {
    namespace: record.object.metadata.namespace,
    name: record.object.metadata.name,
    phase: record.phase,
    requested: record.object.spec.resources.requests.storage,
    capacityBytes: record.volume?.capacityBytes,
    usedBytes:
      id !== undefined && isVolumeId(id) ? await allocatedBytes(await layout.volumeImage(id)) : undefined,
    volumeMode: record.object.spec.volumeMode,
    fsType: record.object.spec.volumeMode === 'Block' ? undefined : record.volume?.fsType,
    accessModes: record.object.spec.accessModes,
    source: record.source,
    storageClassName: record.storageClassName,
    mounts,
    volumeId: id,
    uid: record.uid,
    createdAt: record.createdAt,
  };
}

export async function snapshotViews(
  context: LocalContext,
  namespace: NamespaceName | undefined,
): Promise<SnapshotView[]> {
  const layout = new PoolLayout(context.poolRoot);
  const records = await context.catalog.list('VolumeSnapshot', namespace);
  return Promise.all(records.map((record) => snapshotView(layout, record)));
}

async function snapshotView(layout: PoolLayout, record: SnapshotRecord): Promise<SnapshotView> {
  const id = record.snapshot?.id;
  return {
    namespace: record.object.metadata.namespace,
    name: record.object.metadata.name,
    readyToUse: record.phase === 'Ready',
    sourceClaim: record.object.spec.source.persistentVolumeClaimName,
    restoreBytes: record.snapshot?.restoreBytes,
    usedBytes:
      id !== undefined && isSnapshotId(id) ? await allocatedBytes(await layout.snapshotImage(id)) : undefined,
    snapshotClassName: record.snapshotClassName,
    snapshotId: id,
    uid: record.uid,
    createdAt: record.createdAt,
  };
}

/** A claim as `kubectl get pvc -o yaml` would show it: spec as applied, status from Dolly. */
export function claimObject(record: ClaimRecord): Record<string, unknown> {
  const { object } = record;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { ...object.metadata, uid: record.uid, creationTimestamp: record.createdAt },
    // No spec.volumeName: there is no PersistentVolume object here, and the output must apply
    // again unchanged. The CSI volume ID is in `-o wide` and `dolly volume ls --json`.
    spec: { ...object.spec, storageClassName: record.storageClassName },
    status: {
      phase: record.phase,
      ...(record.volume && {
        capacity: { storage: formatQuantity(record.volume.capacityBytes) },
        accessModes: object.spec.accessModes,
      }),
    },
  };
}

export function snapshotObject(record: SnapshotRecord): Record<string, unknown> {
  return {
    apiVersion: 'snapshot.storage.k8s.io/v1',
    kind: 'VolumeSnapshot',
    metadata: { ...record.object.metadata, uid: record.uid, creationTimestamp: record.createdAt },
    spec: { ...record.object.spec, volumeSnapshotClassName: record.snapshotClassName },
    status: {
      readyToUse: record.phase === 'Ready',
      ...(record.snapshot && {
        boundVolumeSnapshotContentName: `snapcontent-${record.uid}`,
        creationTime: record.snapshot.creationTime,
        restoreSize: formatQuantity(record.snapshot.restoreBytes),
        snapshotHandle: record.snapshot.id,
      }),
    },
  };
}

export function isDefaultStorageClass(annotations: Record<string, string>): boolean {
  return annotations[DEFAULT_STORAGE_CLASS_ANNOTATION] === 'true';
}

export function isDefaultSnapshotClass(annotations: Record<string, string>): boolean {
  return annotations[DEFAULT_SNAPSHOT_CLASS_ANNOTATION] === 'true';
}

const SHORT_ACCESS_MODES: Record<AccessMode, string> = {
  ReadWriteOnce: 'RWO',
  ReadOnlyMany: 'ROX',
  ReadWriteMany: 'RWX',
  ReadWriteOncePod: 'RWOP',
};

export function shortAccessModes(modes: AccessMode[]): string {
  return modes.map((mode) => SHORT_ACCESS_MODES[mode]).join(',');
}

/** One node of the lineage: a claim or a snapshot, with what was made from it. */
export interface LineageNode {
  kind: 'PersistentVolumeClaim' | 'VolumeSnapshot';
  namespace: string;
  name: string;
  /** How it was made from its parent: 'clone', 'snapshot', 'restore'; 'new' for a root. */
  made: 'new' | 'clone' | 'snapshot' | 'restore';
  /** Its source when that no longer exists (the node is then a root). */
  deletedSource?: string;
  sizeBytes: number | undefined;
  children: LineageNode[];
}

/**
 * The lineage of volumes and snapshots: clones under their source claim, snapshots under the
 * claim they were taken of, restores under their snapshot. A node whose source is gone is a root
 * that says so.
 */
export function lineage(claims: VolumeView[], snapshots: SnapshotView[]): LineageNode[] {
  const key = (kind: string, namespace: string, name: string): string => `${kind}\0${namespace}\0${name}`;
  const nodes = new Map<string, LineageNode>();
  for (const claim of claims) {
    nodes.set(key('PersistentVolumeClaim', claim.namespace, claim.name), {
      kind: 'PersistentVolumeClaim',
      namespace: claim.namespace,
      name: claim.name,
      made: claim.source === undefined ? 'new' : claim.source.kind === 'VolumeSnapshot' ? 'restore' : 'clone',
      sizeBytes: claim.capacityBytes,
      children: [],
    });
  }
  for (const snapshot of snapshots) {
    nodes.set(key('VolumeSnapshot', snapshot.namespace, snapshot.name), {
      kind: 'VolumeSnapshot',
      namespace: snapshot.namespace,
      name: snapshot.name,
      made: 'snapshot',
      sizeBytes: snapshot.restoreBytes,
      children: [],
    });
  }
  const roots: LineageNode[] = [];
  const attach = (
    node: LineageNode,
    parentKind: string | undefined,
    parentName: string | undefined,
  ): void => {
    const parent =
      parentKind && parentName !== undefined
        ? nodes.get(key(parentKind, node.namespace, parentName))
        : undefined;
    if (parent) parent.children.push(node);
    else {
      if (parentKind && parentName !== undefined) {
        node.deletedSource = `${parentKind === 'VolumeSnapshot' ? 'volumesnapshot' : 'pvc'}/${parentName}`;
      }
      roots.push(node);
    }
  };
  for (const claim of claims) {
    const node = nodes.get(key('PersistentVolumeClaim', claim.namespace, claim.name));
    if (node) attach(node, claim.source?.kind, claim.source?.name);
  }
  for (const snapshot of snapshots) {
    const node = nodes.get(key('VolumeSnapshot', snapshot.namespace, snapshot.name));
    if (node) attach(node, 'PersistentVolumeClaim', snapshot.sourceClaim);
  }
  return roots;
}
