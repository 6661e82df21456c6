import { isNamespaceName, isObjectName } from '../k8s/names.js';
import type { NamespaceName, ObjectName } from '../k8s/names.js';
import { identify, parseManifestObject, RefusedObject } from '../k8s/objects.js';
import type { DocumentIdentity, ManifestObject } from '../k8s/objects.js';
import { applyClaim, deleteClaim } from './claims.js';
import { applyNamespace, applySnapshotClass, applyStorageClass, initializeCatalog } from './classes.js';
import type { LocalContext } from './context.js';
import type { SourcedDocument } from './documents.js';
import { UserError } from './errors.js';
import type { ApplyResult } from './results.js';
import { applySnapshot, deleteSnapshot } from './snapshots.js';

export interface Outcome {
  identity: DocumentIdentity;
  source: string;
  result?: ApplyResult | 'deleted';
  error?: string;
}

const NAMESPACED_KINDS = new Set(['PersistentVolumeClaim', 'VolumeSnapshot']);

function checkNamespace(
  identity: DocumentIdentity,
  object: ManifestObject,
  namespace: NamespaceName,
  explicit: boolean,
): void {
  if (!explicit || !('namespace' in object.metadata)) return;
  if (object.metadata.namespace !== namespace) {
    throw new RefusedObject(
      identity,
      `its namespace ${object.metadata.namespace} does not match --namespace ${namespace}; drop --namespace or pass --namespace ${object.metadata.namespace}`,
    );
  }
}

async function applyObject(context: LocalContext, object: ManifestObject): Promise<ApplyResult> {
  switch (object.kind) {
    case 'PersistentVolumeClaim':
      return applyClaim(context, object);
    case 'VolumeSnapshot':
      return applySnapshot(context, object);
    case 'StorageClass':
      return applyStorageClass(context, object);
    case 'VolumeSnapshotClass':
      return applySnapshotClass(context, object);
    case 'Namespace':
      return applyNamespace(context, object);
  }
}

/**
 * Applies each document in order, as `kubectl apply` does: one refused object is reported and
 * not created, and the others still go ahead.
 */
export async function applyDocuments(
  context: LocalContext,
  documents: SourcedDocument[],
  namespace: NamespaceName,
  explicitNamespace: boolean,
): Promise<Outcome[]> {
  await initializeCatalog(context);
  const outcomes: Outcome[] = [];
  for (const { source, document } of documents) {
    let identity = identify(document);
    try {
      const object = parseManifestObject(document, namespace);
      identity = {
        kind: object.kind,
        name: object.metadata.name,
        ...('namespace' in object.metadata && { namespace: object.metadata.namespace }),
      };
      checkNamespace(identity, object, namespace, explicitNamespace);
      outcomes.push({ identity, source, result: await applyObject(context, object) });
    } catch (error) {
      if (error instanceof RefusedObject || error instanceof UserError)
        outcomes.push({ identity, source, error: error.message });
      else throw error;
    }
  }
  return outcomes;
}

/** Deletes the objects the documents name (kind, name, namespace), in order. */
export async function deleteDocuments(
  context: LocalContext,
  documents: SourcedDocument[],
  namespace: NamespaceName,
  options: { explicitNamespace: boolean; ignoreNotFound: boolean },
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const { source, document } of documents) {
    const identity = identify(document);
    const objectNamespace = identity.namespace ?? namespace;
    const shown: DocumentIdentity = NAMESPACED_KINDS.has(identity.kind)
      ? { ...identity, namespace: objectNamespace }
      : identity;
    try {
      if (options.explicitNamespace && identity.namespace !== undefined && identity.namespace !== namespace) {
        throw new UserError(`its namespace ${identity.namespace} does not match --namespace ${namespace}`);
      }
      if (!isObjectName(identity.name))
        throw new UserError(`${JSON.stringify(identity.name)} is not a valid name`);
      if (NAMESPACED_KINDS.has(identity.kind) && !isNamespaceName(objectNamespace)) {
        throw new UserError(`${JSON.stringify(objectNamespace)} is not a valid namespace`);
      }
      await deleteObject(context, identity.kind, identity.name, objectNamespace as NamespaceName);
      outcomes.push({ identity: shown, source, result: 'deleted' });
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      if (options.ignoreNotFound && / not found/.test(error.message)) continue;
      outcomes.push({ identity: shown, source, error: error.message });
    }
  }
  return outcomes;
}

export async function deleteObject(
  context: LocalContext,
  kind: string,
  name: ObjectName,
  namespace: NamespaceName,
): Promise<void> {
  const { catalog } = context;
  switch (kind) {
    case 'PersistentVolumeClaim':
      return deleteClaim(context, namespace, name);
    case 'VolumeSnapshot':
      return deleteSnapshot(context, namespace, name);
    case 'StorageClass':
    case 'VolumeSnapshotClass': {
      const key = { kind, name } as const;
      const locks = await catalog.lock([key]);
      try {
        if (!(await catalog.get(key))) throw new UserError(`${kind.toLowerCase()} ${name} not found`);
        await catalog.remove(key);
      } finally {
        await locks.release();
      }
      return;
    }
    case 'Namespace': {
      if (!isNamespaceName(name)) throw new UserError(`namespace ${name} not found`);
      const claims = await catalog.list('PersistentVolumeClaim', name);
      const snapshots = await catalog.list('VolumeSnapshot', name);
      if (claims.length + snapshots.length > 0) {
        const held = [
          ...claims.map((record) => `persistentvolumeclaim/${record.object.metadata.name}`),
          ...snapshots.map((record) => `volumesnapshot/${record.object.metadata.name}`),
        ];
        throw new UserError(
          `namespace ${name} still holds ${held.join(', ')}; delete them first (dolly does not delete volumes in bulk)`,
        );
      }
      const key = { kind: 'Namespace' as const, name };
      if (!(await catalog.get(key)) && name !== 'default') throw new UserError(`namespace ${name} not found`);
      await catalog.remove(key);
      return;
    }
    default:
      throw new UserError(
        `kind ${kind} is not one dolly keeps (PersistentVolumeClaim, VolumeSnapshot, StorageClass, VolumeSnapshotClass, Namespace)`,
      );
  }
}
