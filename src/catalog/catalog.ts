import { mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isNamespaceName, isObjectName } from '../k8s/names.js';
import type { NamespaceName, ObjectName } from '../k8s/names.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { errnoCode } from '../errors.js';
import { lockKeys } from './host-lock.js';
import type { HostLocks } from './host-lock.js';
import type {
  CatalogRecord,
  ClaimRecord,
  NamespaceRecord,
  RecordKind,
  SnapshotClassRecord,
  SnapshotRecord,
  StorageClassRecord,
} from './records.js';

type RecordOf<K extends RecordKind> = Extract<CatalogRecord, { kind: K }>;

const DIRS: Record<RecordKind, string> = {
  PersistentVolumeClaim: 'persistentvolumeclaims',
  VolumeSnapshot: 'volumesnapshots',
  StorageClass: 'storageclasses',
  VolumeSnapshotClass: 'volumesnapshotclasses',
  Namespace: 'namespaces',
};
const NAMESPACED: ReadonlySet<RecordKind> = new Set(['PersistentVolumeClaim', 'VolumeSnapshot']);

/** Where an object lives: its kind, name and (for namespaced kinds) namespace. */
export interface ObjectKey<K extends RecordKind = RecordKind> {
  kind: K;
  name: ObjectName;
  namespace?: NamespaceName;
}

export class CatalogDamaged extends Error {}

/**
 * The names a user gave, and what they map to: one JSON file per object under
 * `<pool>/catalog/<kind>/[<namespace>/]<name>.json`, each written atomically. Paths are built
 * only from validated (branded) names. Changes go under `lock()`, a host-wide lock per object.
 */
export class Catalog {
  private constructor(readonly root: string) {}

  static async open(root: string): Promise<Catalog> {
    await mkdir(join(root, 'tmp'), { recursive: true, mode: 0o700 });
    return new Catalog(root);
  }

  /** True once: the first time a catalog is used (it then gets its default classes). */
  async claimFirstUse(): Promise<boolean> {
    try {
      await stat(join(this.root, 'initialized'));
      return false;
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
      return true;
    }
  }

  async markInitialized(): Promise<void> {
    await writeFileAtomic(join(this.root, 'initialized'), `${new Date().toISOString()}\n`, 0o600, this.tmp);
  }

  private get tmp(): string {
    return join(this.root, 'tmp');
  }

  private dirOf(kind: RecordKind, namespace: NamespaceName | undefined): string {
    if (NAMESPACED.has(kind)) {
      if (namespace === undefined) throw new Error(`a ${kind} needs a namespace`);
      return join(this.root, DIRS[kind], namespace);
    }
    return join(this.root, DIRS[kind]);
  }

  private pathOf(key: ObjectKey): string {
    return join(this.dirOf(key.kind, key.namespace), `${key.name}.json`);
  }

  /** A lock name for an object, also used in "another command is working on …" messages. */
  static lockName(key: ObjectKey): string {
    const kind = key.kind.toLowerCase();
    return key.namespace === undefined
      ? `${kind}/${key.name}`
      : `${kind}/${key.name} in namespace ${key.namespace}`;
  }

  lock(keys: readonly ObjectKey[], onWait?: (key: string) => void): Promise<HostLocks> {
    return lockKeys(
      this.root,
      keys.map((key) => Catalog.lockName(key)),
      { onWait },
    );
  }

  async get<K extends RecordKind>(key: ObjectKey<K>): Promise<RecordOf<K> | undefined> {
    const path = this.pathOf(key);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    return parseRecord(path, text, key.kind);
  }

  async put(record: CatalogRecord): Promise<void> {
    const key = keyOf(record);
    const dir = this.dirOf(key.kind, key.namespace);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.pathOf(key), `${JSON.stringify(record, null, 2)}\n`, 0o600, this.tmp);
  }

  async remove(key: ObjectKey): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  /** Every record of a kind, in one namespace or (namespace undefined) all; sorted by name. */
  async list<K extends RecordKind>(kind: K, namespace?: NamespaceName): Promise<RecordOf<K>[]> {
    const namespaces = NAMESPACED.has(kind)
      ? namespace !== undefined
        ? [namespace]
        : (await entries(join(this.root, DIRS[kind]))).filter(isNamespaceName)
      : [undefined];
    const records: RecordOf<K>[] = [];
    for (const ns of namespaces) {
      const dir = this.dirOf(kind, ns);
      for (const file of await entries(dir)) {
        if (!file.endsWith('.json')) continue;
        const name = file.slice(0, -'.json'.length);
        if (!isObjectName(name)) continue;
        const record = await this.get<K>({ kind, name, ...(ns !== undefined && { namespace: ns }) });
        if (record) records.push(record);
      }
    }
    return records.sort((a, b) => compareKeys(keyOf(a), keyOf(b)));
  }

  /** Namespaces that hold something, or have a Namespace record. */
  async namespaces(): Promise<NamespaceName[]> {
    const names = new Set<NamespaceName>();
    for (const record of await this.list('Namespace')) {
      if (isNamespaceName(record.object.metadata.name)) names.add(record.object.metadata.name);
    }
    for (const kind of NAMESPACED) {
      for (const ns of await entries(join(this.root, DIRS[kind]))) {
        if (isNamespaceName(ns) && (await entries(join(this.root, DIRS[kind], ns))).length > 0) names.add(ns);
      }
    }
    return [...names].sort();
  }
}

async function entries(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw error;
  }
}

export function keyOf(record: CatalogRecord): ObjectKey {
  const { metadata } = record.object;
  return 'namespace' in metadata
    ? { kind: record.kind, name: metadata.name, namespace: metadata.namespace }
    : { kind: record.kind, name: metadata.name };
}

function compareKeys(a: ObjectKey, b: ObjectKey): number {
  const left = `${a.namespace ?? ''}/${a.name}`;
  const right = `${b.namespace ?? ''}/${b.name}`;
  return left < right ? -1 : left > right ? 1 : 0;
}

function parseRecord<K extends RecordKind>(path: string, text: string, kind: K): RecordOf<K> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CatalogDamaged(`catalog file ${path} is damaged (${String(error)}); move it away to go on`);
  }
  const record = value as Partial<CatalogRecord> | null;
  if (!record || record.version !== 1 || record.kind !== kind || typeof record.object !== 'object') {
    throw new CatalogDamaged(`catalog file ${path} is not a ${kind} record; move it away to go on`);
  }
  return record as RecordOf<K>;
}

export type { ClaimRecord, SnapshotRecord, StorageClassRecord, SnapshotClassRecord, NamespaceRecord };
