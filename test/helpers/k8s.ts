import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';
import * as apps from 'kubernetes-models/apps/v1';
import * as core from 'kubernetes-models/v1';
import * as rbac from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as storage from 'kubernetes-models/storage.k8s.io/v1';

/** The repository root (this file runs from dist/test/helpers). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DEPLOY = join(ROOT, 'deploy', 'kubernetes');
export const EXAMPLES = join(ROOT, 'deploy', 'examples');

/** A Kubernetes object as parsed from YAML; fields are read with the accessors below. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export interface LoadedObject {
  file: string;
  object: K8sObject;
}

/** Every document of a YAML file; a syntax error or a document that is not an object throws. */
export async function loadYaml(file: string): Promise<LoadedObject[]> {
  const text = await readFile(file, 'utf8');
  const loaded: LoadedObject[] = [];
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) {
      throw new Error(`${relative(ROOT, file)}: ${document.errors.map((error) => error.message).join('; ')}`);
    }
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value))
      throw new Error(`${relative(ROOT, file)}: not an object`);
    const object = value as K8sObject;
    if (typeof object.apiVersion !== 'string' || typeof object.kind !== 'string') {
      throw new Error(`${relative(ROOT, file)}: a document without apiVersion or kind`);
    }
    loaded.push({ file: relative(ROOT, file), object });
  }
  return loaded;
}

/** Every .yaml file under a directory, sorted. */
export async function yamlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.yaml'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/**
 * `kubectl kustomize` for the subset Dolly's kustomization uses: `resources` (files, in order)
 * and `namespace` (set on every namespaced object and on ServiceAccount subjects of bindings).
 * Any other field throws, so the kustomization cannot grow a feature this build ignores.
 */
export async function kustomizeBuild(dir: string): Promise<K8sObject[]> {
  const [kustomization] = await loadYaml(join(dir, 'kustomization.yaml'));
  if (kustomization === undefined) throw new Error('empty kustomization.yaml');
  const { apiVersion, kind, metadata, resources, namespace, ...rest } = kustomization.object as K8sObject & {
    resources?: unknown;
    namespace?: unknown;
  };
  void apiVersion;
  void kind;
  void metadata;
  const unsupported = Object.keys(rest);
  if (unsupported.length > 0)
    throw new Error(`kustomization fields this build does not handle: ${unsupported.join(', ')}`);
  if (!Array.isArray(resources) || !resources.every((entry) => typeof entry === 'string')) {
    throw new Error('kustomization.resources must be a list of files');
  }
  const objects: K8sObject[] = [];
  for (const resource of resources) {
    for (const { object } of await loadYaml(join(dir, resource))) objects.push(object);
  }
  if (typeof namespace === 'string') {
    for (const object of objects) {
      if (!CLUSTER_SCOPED.has(object.kind)) object.metadata.namespace = namespace;
      const subjects = object['subjects'];
      if (Array.isArray(subjects)) {
        for (const subject of subjects as { kind?: string; namespace?: string }[]) {
          if (subject.kind === 'ServiceAccount') subject.namespace = namespace;
        }
      }
    }
  }
  return objects;
}

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'CSIDriver',
  'StorageClass',
  'VolumeSnapshotClass',
  'ClusterRole',
  'ClusterRoleBinding',
]);

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;

/** The official schemas (kubernetes-models) for the built-in kinds Dolly's manifests use. */
const MODELS: Record<string, ModelClass> = {
  'v1/Namespace': core.Namespace,
  'v1/ServiceAccount': core.ServiceAccount,
  'v1/PersistentVolumeClaim': core.PersistentVolumeClaim,
  'v1/Pod': core.Pod,
  'apps/v1/DaemonSet': apps.DaemonSet,
  'storage.k8s.io/v1/CSIDriver': storage.CSIDriver,
  'storage.k8s.io/v1/StorageClass': storage.StorageClass,
  'rbac.authorization.k8s.io/v1/ClusterRole': rbac.ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': rbac.ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': rbac.Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': rbac.RoleBinding,
};

/** The CRD schemas of the snapshot API, vendored from the pinned external-snapshotter. */
const CRD_SCHEMAS: Record<string, string> = {
  'snapshot.storage.k8s.io/v1/VolumeSnapshot': 'volumesnapshot.snapshot.storage.k8s.io-v1.json',
  'snapshot.storage.k8s.io/v1/VolumeSnapshotClass': 'volumesnapshotclass.snapshot.storage.k8s.io-v1.json',
};

const ajv = new Ajv({ allErrors: true, strict: false });
const crdValidators = new Map<string, ValidateFunction>();

async function crdValidator(key: string, file: string): Promise<ValidateFunction> {
  const cached = crdValidators.get(key);
  if (cached !== undefined) return cached;
  const schemaDir = join(ROOT, 'test', 'fixtures', 'k8s-crd-schemas');
  const schema = JSON.parse(await readFile(join(schemaDir, file), 'utf8')) as Record<string, unknown>;
  delete schema['$comment'];
  const validator = ajv.compile(schema);
  crdValidators.set(key, validator);
  return validator;
}

/**
 * Validates one object against its kind's schema; returns the problems (empty when valid). A
 * kind without a schema here is a problem too: nothing ships unvalidated.
 */
export async function validateObject(object: K8sObject): Promise<string[]> {
  const key = `${object.apiVersion}/${object.kind}`;
  const Model = MODELS[key];
  if (Model !== undefined) {
    try {
      new Model(object as never).validate();
      return [];
    } catch (error) {
      return [error instanceof Error ? error.message : String(error)];
    }
  }
  const crdFile = CRD_SCHEMAS[key];
  if (crdFile !== undefined) {
    const validate = await crdValidator(key, crdFile);
    if (validate(object)) return [];
    return (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message ?? ''}`);
  }
  return [`no schema for ${key}`];
}

/** A field by path (`spec.template.spec.containers`), or undefined. */
export function field(value: unknown, path: string): unknown {
  let current = value;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

export interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; mountPropagation?: string }[];
  securityContext?: { privileged?: boolean };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
}

export interface HostPathVolume {
  name: string;
  hostPath?: { path: string; type?: string };
}

export function findObject(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter(
    (object) => object.kind === kind && (name === undefined || object.metadata.name === name),
  );
  if (found.length !== 1)
    throw new Error(`expected one ${kind}${name === undefined ? '' : ` ${name}`}, found ${found.length}`);
  return found[0] as K8sObject;
}

/** `--flag=value` arguments as a map (a bare `--flag` maps to ''); positional arguments are skipped. */
export function flagsOf(args: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (const arg of args) {
    if (!arg.startsWith('--')) continue;
    const equals = arg.indexOf('=');
    flags.set(equals === -1 ? arg : arg.slice(0, equals), equals === -1 ? '' : arg.slice(equals + 1));
  }
  return flags;
}
