import { isNamespaceName, isObjectName, namespaceProblem, objectNameProblem } from './names.js';
import type { NamespaceName, ObjectName } from './names.js';
import { QuantityError, parseStorageQuantity } from './quantity.js';
import { FieldReader, ObjectError } from './reader.js';

/**
 * The Kubernetes objects `dolly apply` takes, read strictly from a decoded document: the kinds,
 * fields and values Dolly supports, each other one refused by name.
 */

export const ACCESS_MODES = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];
export const VOLUME_MODES = ['Filesystem', 'Block'] as const;
export type VolumeMode = (typeof VOLUME_MODES)[number];

export const SNAPSHOT_GROUP = 'snapshot.storage.k8s.io';
export const DEFAULT_STORAGE_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';
export const DEFAULT_SNAPSHOT_CLASS_ANNOTATION = 'snapshot.storage.kubernetes.io/is-default-class';
/** Dolly's own PVC annotation: the filesystem to make, over the class's csi.storage.k8s.io/fstype. */
export const FS_TYPE_ANNOTATION = 'dolly.csi.dev/fs-type';

export interface Metadata {
  name: ObjectName;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface NamespacedMetadata extends Metadata {
  namespace: NamespaceName;
}

/** A PVC's or snapshot's data source, as `dataSource`/`dataSourceRef` name it. */
export interface DataSourceReference {
  apiGroup: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface PersistentVolumeClaim {
  apiVersion: 'v1';
  kind: 'PersistentVolumeClaim';
  metadata: NamespacedMetadata;
  spec: {
    accessModes: AccessMode[];
    resources: { requests: { storage: string }; limits?: { storage: string } };
    storageClassName?: string;
    volumeMode: VolumeMode;
    dataSource?: DataSourceReference;
    dataSourceRef?: DataSourceReference;
  };
}

export interface VolumeSnapshot {
  apiVersion: 'snapshot.storage.k8s.io/v1';
  kind: 'VolumeSnapshot';
  metadata: NamespacedMetadata;
  spec: { source: { persistentVolumeClaimName: string }; volumeSnapshotClassName?: string };
}

export interface StorageClass {
  apiVersion: 'storage.k8s.io/v1';
  kind: 'StorageClass';
  metadata: Metadata;
  provisioner: string;
  parameters: Record<string, string>;
  reclaimPolicy: 'Delete';
  volumeBindingMode: 'Immediate' | 'WaitForFirstConsumer';
  allowVolumeExpansion: boolean;
  mountOptions: string[];
}

export interface VolumeSnapshotClass {
  apiVersion: 'snapshot.storage.k8s.io/v1';
  kind: 'VolumeSnapshotClass';
  metadata: Metadata;
  driver: string;
  deletionPolicy: 'Delete';
  parameters: Record<string, string>;
}

export interface Namespace {
  apiVersion: 'v1';
  kind: 'Namespace';
  metadata: Metadata;
}

export type ManifestObject =
  PersistentVolumeClaim | VolumeSnapshot | StorageClass | VolumeSnapshotClass | Namespace;

/** What one document was, for messages: `persistentvolumeclaim/pvc-1`. */
export interface DocumentIdentity {
  kind: string;
  name: string;
  namespace?: string;
}

export class RefusedObject extends ObjectError {
  constructor(
    readonly identity: DocumentIdentity,
    message: string,
  ) {
    super(message);
  }
}

const KINDS: Record<string, string> = {
  PersistentVolumeClaim: 'v1',
  VolumeSnapshot: 'snapshot.storage.k8s.io/v1',
  StorageClass: 'storage.k8s.io/v1',
  VolumeSnapshotClass: 'snapshot.storage.k8s.io/v1',
  Namespace: 'v1',
};

const KIND_HINTS: Record<string, string> = {
  Pod: 'a single host runs no pods; mount the claim with `dolly volume mount <claim> <dir>`',
  PersistentVolume: 'Dolly provisions every volume itself; create a PersistentVolumeClaim',
  Deployment: 'a single host runs no workloads; mount the claim with `dolly volume mount <claim> <dir>`',
  StatefulSet: 'a single host runs no workloads; create its claims as PersistentVolumeClaims',
};

/** The name, kind and namespace a document claims, read leniently, for error messages. */
export function identify(document: unknown): DocumentIdentity {
  const record =
    typeof document === 'object' && document !== null ? (document as Record<string, unknown>) : {};
  const metadata = (typeof record.metadata === 'object' && record.metadata) || {};
  const meta = metadata as Record<string, unknown>;
  return {
    kind: typeof record.kind === 'string' ? record.kind : '(no kind)',
    name: typeof meta.name === 'string' ? meta.name : '(no name)',
    ...(typeof meta.namespace === 'string' && { namespace: meta.namespace }),
  };
}

/**
 * Reads one document. `namespace` is the namespace of the command (-n); a namespaced object
 * without one is put there, one naming another is refused (as kubectl does).
 */
export function parseManifestObject(document: unknown, namespace: NamespaceName): ManifestObject {
  const identity = identify(document);
  try {
    return parse(document, namespace);
  } catch (error) {
    if (error instanceof ObjectError || error instanceof QuantityError) {
      throw new RefusedObject(identity, error.message);
    }
    throw error;
  }
}

function parse(document: unknown, namespace: NamespaceName): ManifestObject {
  const top = FieldReader.of(document, '');
  const kind = top.requiredString('kind');
  const apiVersion = top.requiredString('apiVersion');
  const expected = KINDS[kind];
  if (expected === undefined) {
    const hint = KIND_HINTS[kind] ?? `dolly apply takes ${Object.keys(KINDS).join(', ')}`;
    throw new ObjectError(`kind ${kind} is not supported: ${hint}`);
  }
  if (apiVersion !== expected) {
    throw new ObjectError(`apiVersion ${apiVersion} is not served for ${kind}: use apiVersion ${expected}`);
  }
  switch (kind) {
    case 'PersistentVolumeClaim':
      return parseClaim(top, namespace);
    case 'VolumeSnapshot':
      return parseSnapshot(top, namespace);
    case 'StorageClass':
      return parseStorageClass(top);
    case 'VolumeSnapshotClass':
      return parseSnapshotClass(top);
    default:
      return parseNamespace(top);
  }
}

/** Fields the API server sets itself and drops from what a client sends (kubectl apply does too). */
const SERVER_SET_METADATA = [
  'uid',
  'resourceVersion',
  'creationTimestamp',
  'generation',
  'managedFields',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
];

function readMetadata(top: FieldReader): { metadata: Metadata; namespace: string | undefined } {
  const reader = top.object('metadata');
  if (!reader) throw new ObjectError('metadata.name is required');
  const name = reader.requiredString('name');
  const problem = objectNameProblem(name);
  if (problem !== undefined || !isObjectName(name)) throw new ObjectError(`metadata.name: ${problem ?? ''}`);
  const namespace = reader.string('namespace');
  const labels = reader.stringMap('labels') ?? {};
  const annotations = reader.stringMap('annotations') ?? {};
  reader.refuse('generateName', 'give the object a name');
  reader.refuse('ownerReferences', 'nothing on a single host owns these objects');
  reader.refuse('finalizers', 'Dolly keeps its own protections');
  reader.skip(...SERVER_SET_METADATA);
  reader.done();
  // status is set by the server; a document copied from `get -o yaml` may carry it.
  top.skip('status');
  return { metadata: { name, labels, annotations }, namespace };
}

function namespacedMetadata(top: FieldReader, commandNamespace: NamespaceName): NamespacedMetadata {
  const { metadata, namespace } = readMetadata(top);
  if (namespace !== undefined) {
    const problem = namespaceProblem(namespace);
    if (problem !== undefined || !isNamespaceName(namespace))
      throw new ObjectError(`metadata.namespace: ${problem ?? ''}`);
    return { ...metadata, namespace };
  }
  return { ...metadata, namespace: commandNamespace };
}

function clusterMetadata(top: FieldReader, kind: string): Metadata {
  const { metadata, namespace } = readMetadata(top);
  if (namespace !== undefined && namespace !== '') {
    throw new ObjectError(`metadata.namespace: a ${kind} belongs to no namespace; remove it`);
  }
  return metadata;
}

function checkQuantity(path: string, text: string): void {
  try {
    if (parseStorageQuantity(text) <= 0) throw new ObjectError(`${path} must be larger than 0`);
  } catch (error) {
    if (error instanceof QuantityError) throw new ObjectError(`${path}: ${error.message}`);
    throw error;
  }
}

function parseClaim(top: FieldReader, commandNamespace: NamespaceName): PersistentVolumeClaim {
  const metadata = namespacedMetadata(top, commandNamespace);
  const spec = top.object('spec');
  if (!spec) throw new ObjectError('spec is required');
  top.done();

  const accessModes = spec.stringList('accessModes') ?? [];
  if (accessModes.length === 0)
    throw new ObjectError('spec.accessModes is required (for example ReadWriteOnce)');
  for (const mode of accessModes) {
    if (!(ACCESS_MODES as readonly string[]).includes(mode)) {
      throw new ObjectError(
        `spec.accessModes: ${mode} is not an access mode; use one of ${ACCESS_MODES.join(', ')}`,
      );
    }
  }
  if (new Set(accessModes).size !== accessModes.length)
    throw new ObjectError('spec.accessModes lists a mode twice');
  if (accessModes.includes('ReadWriteOncePod') && accessModes.length > 1) {
    throw new ObjectError('spec.accessModes: ReadWriteOncePod cannot be combined with other modes');
  }

  const resources = spec.object('resources');
  const requests = resources?.object('requests');
  const storage = requests?.quantity('storage');
  if (!resources || !requests || storage === undefined) {
    throw new ObjectError('spec.resources.requests.storage is required (for example 5Gi)');
  }
  checkQuantity('spec.resources.requests.storage', storage);
  requests.done();
  const limits = resources.object('limits');
  const limitStorage = limits?.quantity('storage');
  if (limits) {
    if (limitStorage === undefined) throw new ObjectError('spec.resources.limits names no storage');
    checkQuantity('spec.resources.limits.storage', limitStorage);
    limits.done();
    if (parseStorageQuantity(limitStorage) < parseStorageQuantity(storage)) {
      throw new ObjectError(
        `spec.resources.limits.storage ${limitStorage} is smaller than the request ${storage}`,
      );
    }
  }
  resources.done();

  const storageClassName = spec.string('storageClassName');
  if (storageClassName === '') {
    throw new ObjectError(
      'spec.storageClassName "" asks for a pre-provisioned volume, which dolly does not make; name a class or leave the field out for the default class',
    );
  }
  const volumeMode = spec.string('volumeMode') ?? 'Filesystem';
  if (!(VOLUME_MODES as readonly string[]).includes(volumeMode)) {
    throw new ObjectError(`spec.volumeMode ${volumeMode} is not a volume mode; use Filesystem or Block`);
  }
  const dataSource = readReference(spec, 'dataSource', false);
  const dataSourceRef = readReference(spec, 'dataSourceRef', true);
  spec.refuse('selector', 'Dolly provisions every claim itself; there are no existing volumes to select');
  spec.refuse('volumeName', 'Dolly provisions every claim itself; it does not bind to named volumes');
  spec.refuse('volumeAttributesClassName', 'Dolly has no mutable volume attributes');
  spec.done();

  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata,
    spec: {
      accessModes: accessModes as AccessMode[],
      resources: {
        requests: { storage },
        ...(limitStorage !== undefined && { limits: { storage: limitStorage } }),
      },
      ...(storageClassName !== undefined && { storageClassName }),
      volumeMode: volumeMode as VolumeMode,
      ...(dataSource && { dataSource }),
      ...(dataSourceRef && { dataSourceRef }),
    },
  };
}

function readReference(
  spec: FieldReader,
  key: string,
  allowNamespace: boolean,
): DataSourceReference | undefined {
  const reader = spec.object(key);
  if (!reader) return undefined;
  const kind = reader.requiredString('kind');
  const name = reader.requiredString('name');
  const apiGroup = reader.string('apiGroup') ?? '';
  const namespace = allowNamespace ? reader.string('namespace') : undefined;
  reader.done();
  return { apiGroup, kind, name, ...(namespace !== undefined && namespace !== '' && { namespace }) };
}

function parseSnapshot(top: FieldReader, commandNamespace: NamespaceName): VolumeSnapshot {
  const metadata = namespacedMetadata(top, commandNamespace);
  const spec = top.object('spec');
  if (!spec) throw new ObjectError('spec.source.persistentVolumeClaimName is required');
  top.done();
  const source = spec.object('source');
  if (!source) throw new ObjectError('spec.source.persistentVolumeClaimName is required');
  source.refuse(
    'volumeSnapshotContentName',
    'pre-provisioned snapshots do not exist on a single host; name the claim to snapshot in persistentVolumeClaimName',
  );
  const claim = source.requiredString('persistentVolumeClaimName');
  source.done();
  const className = spec.string('volumeSnapshotClassName');
  spec.done();
  return {
    apiVersion: 'snapshot.storage.k8s.io/v1',
    kind: 'VolumeSnapshot',
    metadata,
    spec: {
      source: { persistentVolumeClaimName: claim },
      ...(className !== undefined && className !== '' && { volumeSnapshotClassName: className }),
    },
  };
}

function parseStorageClass(top: FieldReader): StorageClass {
  const metadata = clusterMetadata(top, 'StorageClass');
  const provisioner = top.requiredString('provisioner');
  const parameters = top.stringMap('parameters') ?? {};
  const reclaimPolicy = top.string('reclaimPolicy') ?? 'Delete';
  if (reclaimPolicy !== 'Delete') {
    throw new ObjectError(
      `reclaimPolicy ${reclaimPolicy} is not supported: on a single host a volume without its claim would be out of reach; use Delete (or keep the claim)`,
    );
  }
  const volumeBindingMode = top.string('volumeBindingMode') ?? 'Immediate';
  if (volumeBindingMode !== 'Immediate' && volumeBindingMode !== 'WaitForFirstConsumer') {
    throw new ObjectError(
      `volumeBindingMode ${volumeBindingMode} is not a binding mode; use Immediate or WaitForFirstConsumer`,
    );
  }
  const allowVolumeExpansion = top.boolean('allowVolumeExpansion') ?? false;
  const mountOptions = top.stringList('mountOptions') ?? [];
  top.refuse('allowedTopologies', 'a single host is one topology');
  top.done();
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata,
    provisioner,
    parameters,
    reclaimPolicy: 'Delete',
    volumeBindingMode,
    allowVolumeExpansion,
    mountOptions,
  };
}

function parseSnapshotClass(top: FieldReader): VolumeSnapshotClass {
  const metadata = clusterMetadata(top, 'VolumeSnapshotClass');
  const driver = top.requiredString('driver');
  const deletionPolicy = top.requiredString('deletionPolicy');
  if (deletionPolicy !== 'Delete') {
    throw new ObjectError(
      `deletionPolicy ${deletionPolicy} is not supported: on a single host a snapshot without its VolumeSnapshot would be out of reach; use Delete`,
    );
  }
  const parameters = top.stringMap('parameters') ?? {};
  top.done();
  return {
    apiVersion: 'snapshot.storage.k8s.io/v1',
    kind: 'VolumeSnapshotClass',
    metadata,
    driver,
    deletionPolicy,
    parameters,
  };
}

function parseNamespace(top: FieldReader): Namespace {
  const metadata = clusterMetadata(top, 'Namespace');
  if (!isNamespaceName(metadata.name))
    throw new ObjectError(`metadata.name: ${namespaceProblem(metadata.name) ?? ''}`);
  top.refuse('spec', 'namespaces have no finalizers to set on a single host');
  top.done();
  return { apiVersion: 'v1', kind: 'Namespace', metadata };
}

/** `persistentvolumeclaim/pvc-1`, as kubectl names objects in its output. */
export function describeIdentity(identity: DocumentIdentity): string {
  return `${identity.kind.toLowerCase()}/${identity.name}`;
}
