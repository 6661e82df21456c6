import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import {
  DEPLOY,
  EXAMPLES,
  ROOT,
  field,
  kustomizeBuild,
  loadYaml,
  validateObject,
  yamlFiles,
} from '../helpers/k8s.js';
import type { Container, K8sObject } from '../helpers/k8s.js';

/**
 * Every manifest and example parses and is valid against the Kubernetes API schemas
 * (kubernetes-models; the snapshot CRDs' schemas vendored from external-snapshotter), and the
 * kustomization builds to exactly the objects Dolly installs.
 */
describe('Kubernetes manifests and examples', () => {
  it('every YAML document under deploy/ parses and validates against its schema', async () => {
    const files = [...(await yamlFiles(DEPLOY)), ...(await yamlFiles(EXAMPLES))];
    assert.ok(files.length >= 20, `found only ${files.length} YAML files`);
    const problems: string[] = [];
    let documents = 0;
    for (const file of files) {
      if (file.endsWith('kustomization.yaml')) continue;
      for (const { file: name, object } of await loadYaml(file)) {
        documents += 1;
        for (const problem of await validateObject(object)) {
          problems.push(`${name}: ${object.kind} ${object.metadata.name}: ${problem}`);
        }
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(documents >= 40, `validated only ${documents} documents`);
  });

  it('the validation rejects what the API server would reject', async () => {
    const broken: K8sObject[] = [
      {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'x' },
        spec: { accessModes: 'ReadWriteOnce' },
      },
      { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'x' } },
      {
        apiVersion: 'snapshot.storage.k8s.io/v1',
        kind: 'VolumeSnapshot',
        metadata: { name: 'x' },
        spec: { source: { persistentVolumeClaimName: 'a', volumeSnapshotContentName: 'b' } },
      },
      {
        apiVersion: 'snapshot.storage.k8s.io/v1',
        kind: 'VolumeSnapshotClass',
        metadata: { name: 'x' },
        driver: 'd',
        deletionPolicy: 'Keep',
      },
      { apiVersion: 'example.com/v1', kind: 'Unknown', metadata: { name: 'x' } },
    ];
    for (const object of broken) {
      assert.notDeepEqual(await validateObject(object), [], `${object.kind} should be invalid`);
    }
  });

  it('the kustomization builds to exactly the expected objects, all in namespace dolly', async () => {
    const objects = await kustomizeBuild(DEPLOY);
    const names = objects.map((object) =>
      [object.kind, object.metadata.namespace ?? '-', object.metadata.name].join(' '),
    );
    assert.deepEqual(names.sort(), [
      'CSIDriver - dolly.csi.dev',
      'ClusterRole - dolly-external-provisioner-runner',
      'ClusterRole - dolly-external-resizer-runner',
      'ClusterRole - dolly-external-snapshotter-runner',
      'ClusterRoleBinding - dolly-external-provisioner',
      'ClusterRoleBinding - dolly-external-resizer',
      'ClusterRoleBinding - dolly-external-snapshotter',
      'DaemonSet dolly dolly-node',
      'Namespace - dolly',
      'Role dolly dolly-external-provisioner-cfg',
      'Role dolly dolly-external-resizer-cfg',
      'RoleBinding dolly dolly-external-provisioner-cfg',
      'RoleBinding dolly dolly-external-resizer-cfg',
      'ServiceAccount dolly dolly-node',
      'StorageClass - dolly',
      'StorageClass - dolly-xfs',
      'VolumeSnapshotClass - dolly-snapshots',
    ]);
    for (const object of objects)
      assert.deepEqual(await validateObject(object), [], `${object.kind} after the build`);
  });

  it('every file in deploy/kubernetes is in the kustomization, and every image is pinned to a version', async () => {
    const [kustomization] = await loadYaml(join(DEPLOY, 'kustomization.yaml'));
    const listed = new Set(field(kustomization?.object, 'resources') as string[]);
    for (const file of await yamlFiles(DEPLOY)) {
      const name = relative(DEPLOY, file);
      if (name !== 'kustomization.yaml') assert.ok(listed.has(name), `${name} is not in kustomization.yaml`);
    }
    const files = [...(await yamlFiles(DEPLOY)), ...(await yamlFiles(EXAMPLES))];
    let images = 0;
    for (const file of files) {
      for (const { file: name, object } of await loadYaml(file)) {
        const podSpec = object.kind === 'Pod' ? object['spec'] : field(object, 'spec.template.spec');
        const containers = (field(podSpec, 'containers') ?? []) as Container[];
        for (const container of containers) {
          images += 1;
          // registry/name:vX.Y.Z or name:X.Y.Z; never :latest, never untagged.
          assert.match(
            container.image,
            /^[a-z0-9.\-/]+:v?\d+\.\d+\.\d+$/,
            `${name}: ${container.name} image ${container.image}`,
          );
        }
      }
    }
    assert.ok(images >= 6);
  });

  it("Dolly's image tag is the package version", async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const daemonSet = (await loadYaml(join(DEPLOY, 'daemonset.yaml')))[0]?.object;
    const containers = field(daemonSet, 'spec.template.spec.containers') as Container[];
    const dolly = containers.find((container) => container.name === 'dolly');
    assert.equal(dolly?.image.split(':')[1], pkg.version);
  });

  it("the seed documents' PVCs are in the examples with the names, namespaces, sizes and classes they give", async () => {
    const objects = (await Promise.all((await yamlFiles(EXAMPLES)).map(loadYaml)))
      .flat()
      .map(({ object }) => object);
    const pvc = (namespace: string, name: string): K8sObject | undefined =>
      objects.find(
        (object) =>
          object.kind === 'PersistentVolumeClaim' &&
          object.metadata.name === name &&
          object.metadata.namespace === namespace,
      );
    const expected = [
      // [namespace, name, class, size, source] as written in the seed documents
      ['myns', 'clone-of-pvc-1', 'cloning', '5Gi', 'pvc-1'],
      ['mynamespace', 'pvc-1-clone', 'csi-cloning', '5Gi', 'pvc-1'],
      ['demo-namespace', 'pvc-clone', 'csi-storageclass', '1Gi', 'src-pvc'],
    ] as const;
    const classes = new Set(
      objects.filter((object) => object.kind === 'StorageClass').map((object) => object.metadata.name),
    );
    for (const [namespace, name, storageClass, size, source] of expected) {
      const clone = pvc(namespace, name);
      assert.ok(clone, `${namespace}/${name}`);
      assert.equal(field(clone, 'spec.storageClassName'), storageClass);
      assert.equal(field(clone, 'spec.resources.requests.storage'), size);
      assert.equal(field(clone, 'spec.dataSource.kind'), 'PersistentVolumeClaim');
      assert.equal(field(clone, 'spec.dataSource.name'), source);
      assert.ok(classes.has(storageClass), `the examples provide the class ${storageClass}`);
      assert.ok(pvc(namespace, source), `the examples provide the source ${namespace}/${source}`);
    }
  });

  it("every example pod that uses a clone or restore runs on its source's node (podAffinity to the source's pod)", async () => {
    const objects = (await Promise.all((await yamlFiles(EXAMPLES)).map(loadYaml)))
      .flat()
      .map(({ object }) => object);
    const pods = objects.filter((object) => object.kind === 'Pod');
    const claimsOf = (pod: K8sObject): string[] =>
      ((field(pod, 'spec.volumes') ?? []) as { persistentVolumeClaim?: { claimName: string } }[]).flatMap(
        (volume) => (volume.persistentVolumeClaim ? [volume.persistentVolumeClaim.claimName] : []),
      );
    const sourceClaim = (namespace: string, claim: K8sObject): string | undefined => {
      const kind = field(claim, 'spec.dataSource.kind');
      const name = field(claim, 'spec.dataSource.name') as string | undefined;
      if (kind === 'PersistentVolumeClaim') return name;
      const snapshot = objects.find(
        (object) =>
          object.kind === 'VolumeSnapshot' &&
          object.metadata.name === name &&
          object.metadata.namespace === namespace,
      );
      return field(snapshot, 'spec.source.persistentVolumeClaimName') as string | undefined;
    };
    let checked = 0;
    for (const claim of objects.filter(
      (object) => object.kind === 'PersistentVolumeClaim' && field(object, 'spec.dataSource'),
    )) {
      const namespace = claim.metadata.namespace ?? '';
      const source = sourceClaim(namespace, claim);
      assert.ok(source, `${claim.metadata.name}: its source is in the examples`);
      const sourcePods = pods.filter(
        (pod) => pod.metadata.namespace === namespace && claimsOf(pod).includes(source),
      );
      assert.equal(sourcePods.length, 1, `${claim.metadata.name}: one pod uses the source ${source}`);
      const users = pods.filter(
        (pod) => pod.metadata.namespace === namespace && claimsOf(pod).includes(claim.metadata.name),
      );
      assert.equal(users.length, 1, `${claim.metadata.name}: one example pod uses it`);
      const [affinity] = field(
        users[0],
        'spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution',
      ) as {
        labelSelector: { matchLabels: Record<string, string> };
        topologyKey: string;
      }[];
      assert.equal(affinity?.topologyKey, 'kubernetes.io/hostname');
      const labels = sourcePods[0]?.metadata.labels ?? {};
      for (const [key, value] of Object.entries(affinity?.labelSelector.matchLabels ?? {}))
        assert.equal(labels[key], value);
      assert.ok(Object.keys(affinity?.labelSelector.matchLabels ?? {}).length > 0);
      checked += 1;
    }
    assert.equal(checked, 6, 'three seed clones, a block clone, a cross-class clone and a restore');
  });
});
