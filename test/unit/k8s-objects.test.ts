import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import type { NamespaceName } from '../../src/k8s/names.js';
import { namespaceProblem, objectNameProblem } from '../../src/k8s/names.js';
import { parseManifestObject } from '../../src/k8s/objects.js';
import { SEED_CLONE_YAML } from '../../src/cli/demo/scenario.js';

const ns = 'default' as NamespaceName;
const read = (text: string): ReturnType<typeof parseManifestObject> => parseManifestObject(parse(text), ns);

describe('Kubernetes objects read strictly', () => {
  it("reads the Kubernetes page's clone as written (4-space metadata, no apiGroup)", async () => {
    const example = fileURLToPath(
      new URL('../../../deploy/examples/kubernetes-docs/02-clone-of-pvc-1.yaml', import.meta.url),
    );
    const withoutComments = (await readFile(example, 'utf8')).replace(/^#.*\n/gm, '');
    assert.equal(
      SEED_CLONE_YAML,
      withoutComments,
      "the demo applies the page's YAML, as the example file keeps it",
    );
    const claim = read(SEED_CLONE_YAML);
    assert.equal(claim.kind, 'PersistentVolumeClaim');
    if (claim.kind !== 'PersistentVolumeClaim') return;
    assert.equal(claim.metadata.namespace, 'myns');
    assert.equal(claim.spec.volumeMode, 'Filesystem');
    assert.deepEqual(claim.spec.dataSource, { apiGroup: '', kind: 'PersistentVolumeClaim', name: 'pvc-1' });
  });

  it('refuses unknown and unsupported fields by name, and drops only what the API server sets', () => {
    const base =
      'apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: a}\nspec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}';
    assert.throws(() => read(`${base}, volumeName: pv-1}`), /spec\.volumeName is not supported/);
    assert.throws(() => read(`${base}, selector: {}}`), /spec\.selector is not supported/);
    assert.throws(() => read(`${base}, frobnicate: 1}`), /unknown field spec\.frobnicate/);
    assert.throws(() => read(`${base}}\nextra: 1`), /unknown field extra/);
    assert.throws(
      () => read(base.replace('{requests: {storage: 1Gi}}', '{requests: {storage: 1Gi, cpu: 1}}') + '}'),
      /unknown field spec\.resources\.requests\.cpu/,
    );
    assert.throws(
      () => read(base.replace('[ReadWriteOnce]', '[ReadWriteSometimes]') + '}'),
      /ReadWriteSometimes is not an access mode/,
    );
    assert.throws(() => read(`${base}, storageClassName: ""}`), /asks for a pre-provisioned volume/);
    assert.throws(
      () => read(base.replace('1Gi', '1GB') + '}'),
      /spec\.resources\.requests\.storage: "1GB" is not a quantity/,
    );
    assert.doesNotThrow(() => read(`${base}}\nstatus: {phase: Bound}`));
    assert.doesNotThrow(() =>
      read(base.replace('{name: a}', '{name: a, uid: x, resourceVersion: "3"}') + '}'),
    );
    assert.throws(
      () => read('apiVersion: v1\nkind: Pod\nmetadata: {name: p}'),
      /kind Pod is not supported: a single host runs no pods/,
    );
    assert.throws(
      () => read('apiVersion: v2\nkind: PersistentVolumeClaim\nmetadata: {name: p}'),
      /apiVersion v2 is not served for PersistentVolumeClaim: use apiVersion v1/,
    );
    assert.throws(
      () =>
        read(
          'apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: s}\nprovisioner: x\nallowedTopologies: []',
        ),
      /allowedTopologies is not supported/,
    );
  });

  it('names: refused before they can become paths', () => {
    for (const bad of ['..', '.', 'a/b', 'A', '-a', 'a-', 'a_b', '', 'x'.repeat(254), '../etc']) {
      assert.notEqual(objectNameProblem(bad), undefined, bad);
    }
    assert.equal(objectNameProblem('pvc-1.clone'), undefined);
    assert.notEqual(namespaceProblem('my.ns'), undefined);
    assert.equal(namespaceProblem('myns'), undefined);
    assert.throws(
      () => read('apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: "../x"}'),
      /metadata\.name: "\.\.\/x" is not a valid name/,
    );
  });
});
