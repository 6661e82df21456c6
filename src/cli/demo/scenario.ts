import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../host/exec.js';
import type { NamespaceName, ObjectName } from '../../k8s/names.js';
import { formatBytes, formatQuantity } from '../../k8s/quantity.js';
import { applyDocuments } from '../../local/apply.js';
import { claimKey, deleteClaim } from '../../local/claims.js';
import type { LocalContext } from '../../local/context.js';
import { decodeDocuments } from '../../local/documents.js';
import { UserError } from '../../local/errors.js';
import { mountClaim, unmountClaim } from '../../local/mounts.js';
import type { StepRunner } from '../../local/progress.js';
import { deleteSnapshot } from '../../local/snapshots.js';
import { measurePoolSpace } from '../../pool/accounting.js';

/** The Kubernetes page's clone ("CSI Volume Cloning"), byte for byte as the page shows it. */
export const SEED_CLONE_YAML = `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
    name: clone-of-pvc-1
    namespace: myns
spec:
  accessModes:
  - ReadWriteOnce
  storageClassName: cloning
  resources:
    requests:
      storage: 5Gi
  dataSource:
    kind: PersistentVolumeClaim
    name: pvc-1
`;

/** A claim in the demo's namespace and class, with a data source or none. */
function claimYaml(name: string, storage: string, dataSource = ''): string {
  return `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: ${name}
  namespace: myns
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: cloning
  resources:
    requests:
      storage: ${storage}
${dataSource === '' ? '' : `  dataSource: ${dataSource}\n`}`;
}

function sourceYaml(driverName: string): string {
  return `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: cloning
provisioner: ${driverName}
allowVolumeExpansion: true
parameters:
  csi.storage.k8s.io/fstype: ext4
---
${claimYaml('pvc-1', '5Gi')}`;
}

const LARGER_CLONE_YAML = claimYaml(
  'larger-clone',
  '8Gi',
  '{kind: PersistentVolumeClaim, name: clone-of-pvc-1}',
);
const RESTORE_YAML = claimYaml(
  'restored-1',
  '5Gi',
  '{apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: snapshot-1}',
);
const SNAPSHOT_YAML = `apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata:
  name: snapshot-1
  namespace: myns
spec:
  source:
    persistentVolumeClaimName: clone-of-pvc-1
`;

export interface DemoOptions {
  /** Bytes of random data written into the source before it is cloned. */
  dataBytes: number;
  step: StepRunner;
  say: (line: string) => void;
}

export interface CopyMeasurement {
  what: string;
  /** The driver's CreateVolume/CreateSnapshot: the copy itself, source freeze included. */
  milliseconds: number;
  /** The whole `apply` of the object: catalog records (fsynced) and locks included. */
  applyMilliseconds: number;
  /** Growth of the pool filesystem's used space across the copy (statfs), after syncing the source. */
  poolBytesUsed: number;
}

export interface DemoResult {
  checks: { what: string; passed: boolean }[];
  copies: CopyMeasurement[];
  dataBytes: number;
  /** The images at the end, from their extent maps: what they hold, and what they occupy. */
  sharing: { allocatedBytes: number; physicalBytes: number };
}

const NAMESPACE = 'myns' as NamespaceName;

/** sha256 over every file of a directory (names and contents, in name order). */
async function digest(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const name of (await readdir(dir)).filter((entry) => entry !== 'lost+found').sort()) {
    hash.update(name);
    hash.update(await readFile(join(dir, name)));
  }
  return hash.digest('hex');
}

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const handle = await open(path, 'w');
  try {
    const chunk = 4 * 1024 * 1024;
    for (let written = 0; written < bytes; written += chunk)
      await handle.write(randomBytes(Math.min(chunk, bytes - written)));
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function poolUsedBytes(root: string): Promise<number> {
  const stats = await statfs(root);
  return (stats.blocks - stats.bfree) * stats.bsize;
}

/**
 * The seed documents' scenario, through the same calls as `dolly apply` and `dolly volume`:
 * a source with data, the Kubernetes page's clone of it, identical content, the source changed
 * and then deleted with the clone unaffected, a larger clone, a snapshot and a restore. Each
 * copy is timed and its space measured from the pool filesystem's own accounting.
 */
export async function runDemo(
  context: LocalContext,
  workDir: string,
  options: DemoOptions,
): Promise<DemoResult> {
  const { say } = options;
  const checks: DemoResult['checks'] = [];
  const copies: CopyMeasurement[] = [];
  const check = (what: string, passed: boolean): void => {
    checks.push({ what, passed });
    say(`  ${passed ? '✓' : '✗'} ${what}`);
  };
  const apply = async (yaml: string, source: string): Promise<void> => {
    const outcomes = await applyDocuments(
      context,
      decodeDocuments(yaml, source),
      'default' as NamespaceName,
      false,
    );
    const refused = outcomes.find((outcome) => outcome.error !== undefined);
    if (refused)
      throw new UserError(
        `${refused.identity.kind} ${refused.identity.name} refused: ${refused.error ?? ''}`,
      );
  };
  const mountDir = (name: string): string => join(workDir, 'mnt', name);
  const mount = async (name: string): Promise<string> => {
    await mkdir(mountDir(name), { recursive: true });
    return mountClaim(context, NAMESPACE, name as ObjectName, mountDir(name), {
      readOnly: false,
      step: options.step,
    });
  };
  const copy = async (what: string, yaml: string, source: string, sourceMount: string): Promise<void> => {
    await run('sync', ['-f', sourceMount]);
    // And the pool: btrfs counts written data as used only once its transaction commits.
    await run('sync', ['-f', context.poolRoot]);
    const before = await poolUsedBytes(context.poolRoot);
    let milliseconds = Number.NaN;
    context.observeCopy = (_rpc, ms) => (milliseconds = ms);
    const started = performance.now();
    await apply(yaml, source);
    const applyMilliseconds = performance.now() - started;
    const poolBytesUsed = Math.max(0, (await poolUsedBytes(context.poolRoot)) - before);
    copies.push({ what, milliseconds, applyMilliseconds, poolBytesUsed });
    say(
      `  ${what}: ${milliseconds.toFixed(1)} ms in the driver (${applyMilliseconds.toFixed(1)} ms for the whole apply), ${formatBytes(poolBytesUsed)} of pool space`,
    );
  };

  say(`1. pvc-1 in namespace myns (5Gi, class cloning), with ${formatBytes(options.dataBytes)} of data`);
  await apply(sourceYaml(context.driverName), 'pvc-1.yaml');
  const source = await mount('pvc-1');
  await writeFile(join(source, 'hello.txt'), 'written before the clone\n');
  await writeRandomFile(join(source, 'data.bin'), options.dataBytes);
  const original = await digest(source);

  say("2. clone-of-pvc-1, from the Kubernetes page's YAML as written");
  await copy('clone of pvc-1', SEED_CLONE_YAML, 'clone-of-pvc-1.yaml', source);
  const clone = await mount('clone-of-pvc-1');
  check('clone-of-pvc-1 holds exactly what pvc-1 held', (await digest(clone)) === original);
  const cloneRecord = await context.catalog.get(claimKey(NAMESPACE, 'clone-of-pvc-1' as ObjectName));
  check(
    `clone-of-pvc-1 is bound at 5Gi (${formatQuantity(cloneRecord?.volume?.capacityBytes ?? 0)})`,
    cloneRecord?.volume?.capacityBytes === 5 * 1024 ** 3,
  );

  say('3. pvc-1 changed, then deleted');
  await writeFile(join(source, 'hello.txt'), 'changed after the clone\n');
  await writeRandomFile(join(source, 'data.bin'), 1024 * 1024);
  check('pvc-1 changed: clone-of-pvc-1 still holds the original', (await digest(clone)) === original);
  await unmountClaim(context, NAMESPACE, 'pvc-1' as ObjectName);
  await deleteClaim(context, NAMESPACE, 'pvc-1' as ObjectName);
  check('pvc-1 deleted: clone-of-pvc-1 still holds the original', (await digest(clone)) === original);

  say('4. a larger clone (8Gi) of clone-of-pvc-1');
  await copy('larger clone of clone-of-pvc-1', LARGER_CLONE_YAML, 'larger-clone.yaml', clone);
  const larger = await mount('larger-clone');
  const largerFs = await statfs(larger);
  check('larger-clone holds the same data', (await digest(larger)) === original);
  check(
    `larger-clone's filesystem grew past the source's 5Gi (${formatBytes(largerFs.blocks * largerFs.bsize)})`,
    largerFs.blocks * largerFs.bsize > 5 * 1024 ** 3,
  );

  say('5. a snapshot of clone-of-pvc-1, a change, and a restore');
  await copy('snapshot of clone-of-pvc-1', SNAPSHOT_YAML, 'snapshot-1.yaml', clone);
  await writeFile(join(clone, 'hello.txt'), 'changed after the snapshot\n');
  await run('sync', ['-f', clone]);
  await copy('restore of snapshot-1', RESTORE_YAML, 'restored-1.yaml', clone);
  const restored = await mount('restored-1');
  check(
    "restored-1 holds the snapshot's data, not the later change",
    (await digest(restored)) === original && (await digest(clone)) !== original,
  );

  const space = await measurePoolSpace(context.poolRoot);
  say(
    `6. the pool's images hold ${formatBytes(space.totals.allocatedBytes)} and occupy ${formatBytes(space.totals.physicalBytes)} (extent maps): copies share the rest`,
  );
  const copiesFree = copies.every(
    (entry) => entry.poolBytesUsed < Math.max(16 * 1024 * 1024, options.dataBytes / 4),
  );
  check('no copy took space for the data it copies', copiesFree);

  return {
    checks,
    copies,
    dataBytes: options.dataBytes,
    sharing: { allocatedBytes: space.totals.allocatedBytes, physicalBytes: space.totals.physicalBytes },
  };
}

/** Unmounts and deletes everything the scenario made, whatever point it reached. */
export async function cleanUpDemo(context: LocalContext): Promise<void> {
  for (const claim of await context.catalog.list('PersistentVolumeClaim')) {
    const { namespace, name } = claim.object.metadata;
    if (claim.mounts.length > 0) await unmountClaim(context, namespace, name).catch(() => undefined);
  }
  for (const snapshot of await context.catalog.list('VolumeSnapshot')) {
    await deleteSnapshot(context, snapshot.object.metadata.namespace, snapshot.object.metadata.name).catch(
      () => undefined,
    );
  }
  for (const claim of await context.catalog.list('PersistentVolumeClaim')) {
    await deleteClaim(context, claim.object.metadata.namespace, claim.object.metadata.name).catch(
      () => undefined,
    );
  }
}
