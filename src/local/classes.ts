import type { ObjectName, NamespaceName } from '../k8s/names.js';
import { isObjectName } from '../k8s/names.js';
import { DEFAULT_SNAPSHOT_CLASS_ANNOTATION, DEFAULT_STORAGE_CLASS_ANNOTATION } from '../k8s/objects.js';
import type { Namespace, StorageClass, VolumeSnapshotClass } from '../k8s/objects.js';
import type { SnapshotClassRecord, StorageClassRecord } from '../catalog/records.js';
import type { LocalContext } from './context.js';
import { UserError } from './errors.js';
import { sameValue } from '../util/canonical-json.js';
import type { ApplyResult } from './results.js';

/** The classes a new catalog starts with, as deploy/kubernetes names them: `dolly` (ext4), default. */
export function defaultStorageClass(driverName: string): StorageClass {
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: {
      name: 'dolly' as ObjectName,
      labels: {},
      annotations: { [DEFAULT_STORAGE_CLASS_ANNOTATION]: 'true' },
    },
    provisioner: driverName,
    parameters: { 'csi.storage.k8s.io/fstype': 'ext4' },
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'WaitForFirstConsumer',
    allowVolumeExpansion: true,
    mountOptions: [],
  };
}

export function defaultSnapshotClass(driverName: string): VolumeSnapshotClass {
  return {
    apiVersion: 'snapshot.storage.k8s.io/v1',
    kind: 'VolumeSnapshotClass',
    metadata: {
      name: 'dolly' as ObjectName,
      labels: {},
      annotations: { [DEFAULT_SNAPSHOT_CLASS_ANNOTATION]: 'true' },
    },
    driver: driverName,
    deletionPolicy: 'Delete',
    parameters: {},
  };
}

/** Gives a new catalog its default classes, once: a user who deletes them keeps them deleted. */
export async function initializeCatalog(context: LocalContext): Promise<void> {
  const { catalog } = context;
  if (!(await catalog.claimFirstUse())) return;
  const locks = await catalog.lock([{ kind: 'StorageClass', name: 'dolly' as ObjectName }]);
  try {
    if (!(await catalog.claimFirstUse())) return;
    const createdAt = new Date().toISOString();
    await catalog.put({
      version: 1,
      kind: 'StorageClass',
      object: defaultStorageClass(context.driverName),
      createdAt,
    });
    await catalog.put({
      version: 1,
      kind: 'VolumeSnapshotClass',
      object: defaultSnapshotClass(context.driverName),
      createdAt,
    });
    await catalog.markInitialized();
  } finally {
    await locks.release();
  }
}

/**
 * Creates or updates a StorageClass. As in Kubernetes, only its metadata (labels, annotations:
 * the default-class mark) can change once it exists; the rest is immutable.
 */
export async function applyStorageClass(context: LocalContext, object: StorageClass): Promise<ApplyResult> {
  if (object.provisioner !== context.driverName) {
    throw new UserError(
      `provisioner ${object.provisioner} is not this host's driver: every class here is provisioned by ${context.driverName}; set provisioner: ${context.driverName}`,
    );
  }
  const key = { kind: 'StorageClass' as const, name: object.metadata.name };
  const locks = await context.catalog.lock([key]);
  try {
    const existing = await context.catalog.get(key);
    if (existing) {
      if (!sameValue({ ...existing.object, metadata: undefined }, { ...object, metadata: undefined })) {
        throw new UserError(
          `storageclass ${object.metadata.name} exists with other settings; a StorageClass cannot change once made (only its labels and annotations can): delete it and apply it again`,
        );
      }
      if (sameValue(existing.object.metadata, object.metadata)) return 'unchanged';
      await context.catalog.put({ ...existing, object });
      return 'configured';
    }
    await context.catalog.put({
      version: 1,
      kind: 'StorageClass',
      object,
      createdAt: new Date().toISOString(),
    });
    return 'created';
  } finally {
    await locks.release();
  }
}

export async function applySnapshotClass(
  context: LocalContext,
  object: VolumeSnapshotClass,
): Promise<ApplyResult> {
  if (object.driver !== context.driverName) {
    throw new UserError(
      `driver ${object.driver} is not this host's driver: every snapshot here is taken by ${context.driverName}; set driver: ${context.driverName}`,
    );
  }
  const key = { kind: 'VolumeSnapshotClass' as const, name: object.metadata.name };
  const locks = await context.catalog.lock([key]);
  try {
    const existing = await context.catalog.get(key);
    if (existing) {
      if (!sameValue(existing.object.parameters, object.parameters)) {
        throw new UserError(
          `volumesnapshotclass ${object.metadata.name} exists with other parameters, which cannot change: delete it and apply it again`,
        );
      }
      if (sameValue(existing.object, object)) return 'unchanged';
      await context.catalog.put({ ...existing, object });
      return 'configured';
    }
    await context.catalog.put({
      version: 1,
      kind: 'VolumeSnapshotClass',
      object,
      createdAt: new Date().toISOString(),
    });
    return 'created';
  } finally {
    await locks.release();
  }
}

export async function applyNamespace(context: LocalContext, object: Namespace): Promise<ApplyResult> {
  const key = { kind: 'Namespace' as const, name: object.metadata.name };
  const locks = await context.catalog.lock([key]);
  try {
    const existing = await context.catalog.get(key);
    if (existing && sameValue(existing.object, object)) return 'unchanged';
    await context.catalog.put({
      version: 1,
      kind: 'Namespace',
      object,
      createdAt: existing?.createdAt ?? new Date().toISOString(),
    });
    return existing ? 'configured' : 'created';
  } finally {
    await locks.release();
  }
}

/** Namespaces exist once used: the first object in one records it, so `get namespaces` shows it. */
export async function ensureNamespace(context: LocalContext, namespace: NamespaceName): Promise<void> {
  const key = { kind: 'Namespace' as const, name: namespace as string as ObjectName };
  if (await context.catalog.get(key)) return;
  await context.catalog.put({
    version: 1,
    kind: 'Namespace',
    object: {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: key.name, labels: {}, annotations: {} },
    },
    createdAt: new Date().toISOString(),
  });
}

/**
 * The class a claim uses: the one it names (refused by name when there is none), or the default
 * one; with several defaults, the newest, as Kubernetes picks.
 */
export async function resolveStorageClass(
  context: LocalContext,
  name: string | undefined,
): Promise<StorageClassRecord> {
  if (name !== undefined) {
    const record = isObjectName(name) ? await context.catalog.get({ kind: 'StorageClass', name }) : undefined;
    if (!record) {
      const known = (await context.catalog.list('StorageClass')).map((r) => r.object.metadata.name);
      throw new UserError(
        `storageclass ${name} not found; ${known.length > 0 ? `this host has ${known.join(', ')}` : 'this host has none'} (apply a StorageClass named ${name}, or name another)`,
      );
    }
    return record;
  }
  const defaults = (await context.catalog.list('StorageClass')).filter(
    (record) => record.object.metadata.annotations[DEFAULT_STORAGE_CLASS_ANNOTATION] === 'true',
  );
  const newest = defaults.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1))[0];
  if (!newest) {
    throw new UserError(
      `no default StorageClass: name one in storageClassName, or annotate a class ${DEFAULT_STORAGE_CLASS_ANNOTATION}: "true"`,
    );
  }
  return newest;
}

export async function resolveSnapshotClass(
  context: LocalContext,
  name: string | undefined,
): Promise<SnapshotClassRecord> {
  if (name !== undefined) {
    const record = isObjectName(name)
      ? await context.catalog.get({ kind: 'VolumeSnapshotClass', name })
      : undefined;
    if (!record) {
      throw new UserError(
        `volumesnapshotclass ${name} not found (apply a VolumeSnapshotClass named ${name}, or leave the field out for the default)`,
      );
    }
    return record;
  }
  const defaults = (await context.catalog.list('VolumeSnapshotClass')).filter(
    (record) => record.object.metadata.annotations[DEFAULT_SNAPSHOT_CLASS_ANNOTATION] === 'true',
  );
  const newest = defaults.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1))[0];
  if (!newest) {
    throw new UserError(
      `no default VolumeSnapshotClass: name one in volumeSnapshotClassName, or annotate a class ${DEFAULT_SNAPSHOT_CLASS_ANNOTATION}: "true"`,
    );
  }
  return newest;
}
