import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Driver } from '../helpers/driver.js';
import { dolly, dollyJson, dollyOk } from '../helpers/cli.js';
import { Sandbox } from '../helpers/sandbox.js';

const GiB = 1024 ** 3;
const EXAMPLES = fileURLToPath(new URL('../../../deploy/examples/', import.meta.url));

interface ListJson {
  items: {
    metadata: { name: string; namespace: string; annotations?: Record<string, string> };
    spec: { storageClassName: string; volumeMode: string; dataSource?: unknown };
    status: { phase: string; capacity?: { storage: string } };
  }[];
}

const claim = (name: string, namespace: string, spec: string): string => `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
${spec}`;

/** `dolly apply -f`, `get`, `delete -f`: the seed documents' YAML and Kubernetes' rules on one host. */
describe('dolly apply / get / delete', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let socket: string;
  const apply = (yaml: string, ...args: string[]): ReturnType<typeof dolly> =>
    dolly(socket, ['apply', '-f', '-', ...args], { stdin: yaml });
  const claimsIn = async (namespace: string): Promise<ListJson['items']> =>
    (await dollyJson<ListJson>(socket, ['get', 'pvc', '-n', namespace])).items;
  const refused = async (yaml: string, pattern: RegExp, args: string[] = []): Promise<void> => {
    const result = await apply(yaml, ...args);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stderr, pattern);
  };

  before(async () => {
    sandbox = await Sandbox.create('cli-apply');
    const pool = await sandbox.pool('pool', 8 * GiB);
    driver = await Driver.start(sandbox, { pool });
    socket = driver.socketPath;
  });
  after(async () => sandbox.cleanup());

  it("takes the seed documents' StorageClasses and clones as written (Kubernetes page, OpenShift page, blog post)", async () => {
    const classes = await dollyOk(socket, ['apply', '-f', `${EXAMPLES}seed-storageclasses.yaml`]);
    assert.equal(
      classes,
      'storageclass/cloning created\nstorageclass/csi-cloning created\nstorageclass/csi-storageclass created\n',
    );
    // The sources, as the seed documents assume them: made with the CLI, in the seed's classes.
    await dollyOk(socket, ['volume', 'create', 'pvc-1', '-n', 'myns', '--size', '5Gi', '--class', 'cloning']);
    await dollyOk(socket, [
      'volume',
      'create',
      'pvc-1',
      '-n',
      'mynamespace',
      '--size',
      '5Gi',
      '--class',
      'csi-cloning',
    ]);
    await dollyOk(socket, [
      'volume',
      'create',
      'src-pvc',
      '-n',
      'demo-namespace',
      '--size',
      '1Gi',
      '--class',
      'csi-storageclass',
    ]);

    for (const [file, name, namespace] of [
      ['kubernetes-docs/02-clone-of-pvc-1.yaml', 'clone-of-pvc-1', 'myns'],
      ['openshift/02-pvc-1-clone.yaml', 'pvc-1-clone', 'mynamespace'],
      ['blog/02-pvc-clone.yaml', 'pvc-clone', 'demo-namespace'],
    ] as const) {
      const out = await dollyOk(socket, ['apply', '-f', `${EXAMPLES}${file}`]);
      assert.equal(out, `persistentvolumeclaim/${name} (namespace ${namespace}) created\n`);
      const made = (await claimsIn(namespace)).find((item) => item.metadata.name === name);
      assert.equal(made?.status.phase, 'Bound');
      assert.ok(made?.spec.dataSource, `${name} keeps its dataSource`);
    }
    const table = await dollyOk(socket, ['get', 'pvc', '-n', 'myns']);
    assert.match(table, /^NAME\s+STATUS\s+CAPACITY\s+ACCESS MODES\s+STORAGECLASS\s+AGE$/m);
    assert.match(table, /^clone-of-pvc-1\s+Bound\s+5Gi\s+RWO\s+cloning\s+\d+s$/m);
    const again = await dollyOk(socket, ['apply', '-f', `${EXAMPLES}kubernetes-docs/02-clone-of-pvc-1.yaml`]);
    assert.equal(again, 'persistentvolumeclaim/clone-of-pvc-1 (namespace myns) unchanged\n');
  });

  it('a file with objects dolly does not keep: the rest is applied, each other one refused by name, exit 1', async () => {
    const result = await dolly(socket, ['apply', '-f', `${EXAMPLES}blog/01-src-pvc.yaml`]);
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /^namespace\/demo-namespace unchanged$/m,
      'a namespace exists once something is in it',
    );
    assert.match(result.stdout, /^persistentvolumeclaim\/src-pvc \(namespace demo-namespace\) unchanged$/m);
    assert.match(
      result.stderr,
      /pod\/src-pvc-writer \(namespace demo-namespace\) refused: kind Pod is not supported: a single host runs no pods; mount the claim with `dolly volume mount <claim> <dir>`/,
    );
  });

  it("namespaces are kept apart: one name in two namespaces is two volumes; a clone must be in its source's namespace", async () => {
    const ids = await Promise.all(
      ['myns', 'mynamespace'].map(
        async (ns) =>
          (await dollyJson<{ name: string; volumeId: string }[]>(socket, ['volume', 'ls', '-n', ns])).find(
            (v) => v.name === 'pvc-1',
          )?.volumeId,
      ),
    );
    assert.ok(ids[0] && ids[1] && ids[0] !== ids[1]);
    await refused(
      claim(
        'stray-clone',
        'other',
        `  accessModes: [ReadWriteOnce]
  storageClassName: cloning
  resources: {requests: {storage: 5Gi}}
  dataSource: {kind: PersistentVolumeClaim, name: clone-of-pvc-1}`,
      ),
      /source persistentvolumeclaim clone-of-pvc-1 in namespace other not found \(there is one in namespace myns: a clone must be in the same namespace as its source, so create it in myns\)/,
    );
    await refused(
      claim(
        'stray-clone',
        'other',
        `  accessModes: [ReadWriteOnce]
  storageClassName: cloning
  resources: {requests: {storage: 5Gi}}
  dataSourceRef: {kind: PersistentVolumeClaim, name: pvc-1, namespace: myns}`,
      ),
      /spec\.dataSourceRef\.namespace myns: a clone is made in its source's namespace/,
    );
    assert.deepEqual(await claimsIn('other'), []);
  });

  it('refuses each data source Kubernetes refuses, with its own message, and makes nothing', async () => {
    const base = (source: string, extra = ''): string =>
      claim(
        'bad-clone',
        'myns',
        `  accessModes: [ReadWriteOnce]
  storageClassName: cloning
  resources: {requests: {storage: 5Gi}}
${extra}  ${source}`,
      );
    await refused(
      base('dataSource: {kind: ConfigMap, name: pvc-1}'),
      /spec\.dataSource\.kind ConfigMap is not supported: clone a PersistentVolumeClaim \(apiGroup empty\) or restore a VolumeSnapshot/,
    );
    await refused(
      base('dataSource: {kind: PersistentVolumeClaim, apiGroup: apps, name: pvc-1}'),
      /spec\.dataSource\.apiGroup apps: a PersistentVolumeClaim is in the core API group/,
    );
    await refused(
      base('dataSource: {kind: VolumeSnapshot, name: snap}'),
      /spec\.dataSource\.apiGroup \(empty\): a VolumeSnapshot source needs apiGroup snapshot\.storage\.k8s\.io/,
    );
    await refused(
      base('dataSource: {kind: PersistentVolumeClaim, name: no-such}'),
      /source persistentvolumeclaim no-such in namespace myns not found/,
    );
    await refused(
      base('dataSource: {kind: PersistentVolumeClaim, name: pvc-1}', '  volumeMode: Block\n'),
      /spec\.volumeMode Block differs from the source's \(Filesystem\): a clone has its source's volume mode/,
    );
    await refused(
      claim(
        'bad-clone',
        'myns',
        `  accessModes: [ReadWriteOnce]
  storageClassName: cloning
  resources: {requests: {storage: 4Gi}}
  dataSource: {kind: PersistentVolumeClaim, name: pvc-1}`,
      ),
      /spec\.resources\.requests\.storage 4Gi is smaller than the source's 5Gi: a clone must be at least as large as its source; ask for 5Gi or more/,
    );
    await refused(
      base(
        'dataSource: {kind: PersistentVolumeClaim, name: pvc-1}\n  dataSourceRef: {kind: PersistentVolumeClaim, name: clone-of-pvc-1}',
      ),
      /spec\.dataSource and spec\.dataSourceRef name different objects/,
    );
    await refused(
      base('selector: {matchLabels: {a: b}}'),
      /spec\.selector is not supported: Dolly provisions every claim itself/,
    );
    await refused(
      base('storageClassName: nope').replace('  storageClassName: cloning\n', ''),
      /storageclass nope not found; this host has cloning, csi-cloning, csi-storageclass, dolly/,
    );
    await refused(base('wibble: 1'), /unknown field spec\.wibble/);
    assert.equal(
      (await claimsIn('myns')).some((item) => item.metadata.name === 'bad-clone'),
      false,
    );
    const get = await dolly(socket, ['get', 'pvc', 'bad-clone', '-n', 'myns']);
    assert.equal(get.code, 1);
    assert.match(get.stderr, /persistentvolumeclaim bad-clone not found in namespace myns/);
  });

  it('dataSourceRef is read like dataSource; a VolumeSnapshot source restores', async () => {
    const out = await apply(`${claim(
      'ref-clone',
      'myns',
      `  accessModes: [ReadWriteOnce]
  storageClassName: cloning
  resources: {requests: {storage: 6Gi}}
  dataSourceRef: {kind: PersistentVolumeClaim, name: pvc-1}`,
    )}
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata: {name: snap-1, namespace: myns}
spec:
  source: {persistentVolumeClaimName: pvc-1}
---
${claim(
  'from-snap',
  'myns',
  `  accessModes: [ReadWriteOnce]
  storageClassName: cloning
  resources: {requests: {storage: 5Gi}}
  dataSource: {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: snap-1}`,
)}`);
    assert.equal(out.code, 0, out.stderr);
    const items = await claimsIn('myns');
    assert.equal(items.find((item) => item.metadata.name === 'ref-clone')?.status.capacity?.storage, '6Gi');
    assert.equal(items.find((item) => item.metadata.name === 'from-snap')?.status.phase, 'Bound');
    const snapshots = await dollyJson<{
      items: { metadata: { name: string }; status: { readyToUse: boolean; restoreSize: string } }[];
    }>(socket, ['get', 'volumesnapshot', '-n', 'myns']);
    assert.deepEqual(
      snapshots.items.map((s) => [s.metadata.name, s.status.readyToUse, s.status.restoreSize]),
      [['snap-1', true, '5Gi']],
    );
    // What `get -o yaml` prints applies again unchanged (the server-set fields are dropped).
    for (const kind of ['pvc', 'volumesnapshot']) {
      const name = kind === 'pvc' ? 'from-snap' : 'snap-1';
      const yaml = await dollyOk(socket, ['get', kind, name, '-n', 'myns', '-o', 'yaml']);
      assert.match(await dollyOk(socket, ['apply', '-f', '-'], { stdin: yaml }), / unchanged\n$/);
    }
    await refused(
      claim(
        'too-small',
        'myns',
        `  accessModes: [ReadWriteOnce]
  storageClassName: cloning
  resources: {requests: {storage: 1Gi}}
  dataSource: {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: snap-1}`,
      ),
      /smaller than the snapshot's restore size 5Gi/,
    );
  });

  it('StorageClasses: a claim without a class gets the default (the newest default), one naming another driver is refused', async () => {
    await refused(
      'apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: other}\nprovisioner: ebs.csi.aws.com\n',
      /provisioner ebs\.csi\.aws\.com is not this host's driver: every class here is provisioned by dolly\.csi\.dev/,
    );
    await refused(
      'apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: keep}\nprovisioner: dolly.csi.dev\nreclaimPolicy: Retain\n',
      /reclaimPolicy Retain is not supported/,
    );
    // A class's parameters reach CreateVolume (the reserved csi.storage.k8s.io/ ones excepted):
    // this driver has none of its own, and its refusal comes back naming the key.
    const tuned =
      'apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: tuned}\nprovisioner: dolly.csi.dev\nparameters: {iops: "9000"}\n';
    assert.equal((await apply(tuned)).code, 0);
    await refused(
      claim(
        'tuned-claim',
        'default',
        '  accessModes: [ReadWriteOnce]\n  storageClassName: tuned\n  resources: {requests: {storage: 16Mi}}\n',
      ),
      /persistentvolumeclaim tuned-claim refused: unknown parameters "iops"; Dolly accepts "dolly\.csi\.dev\/consistency" and csi\.storage\.k8s\.io\/\* keys \(INVALID_ARGUMENT\)/,
    );
    const plain = claim(
      'plain',
      'default',
      '  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 16Mi}}\n',
    );
    assert.equal((await apply(plain)).code, 0);
    assert.equal(
      (await claimsIn('default')).find((item) => item.metadata.name === 'plain')?.spec.storageClassName,
      'dolly',
    );
    await dollyOk(socket, ['apply', '-f', '-'], {
      stdin: `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: fast-xfs
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: dolly.csi.dev
allowVolumeExpansion: true
parameters: {csi.storage.k8s.io/fstype: xfs}
`,
    });
    assert.equal(
      (
        await apply(
          claim(
            'plain-2',
            'default',
            '  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 300Mi}}\n',
          ),
        )
      ).code,
      0,
    );
    const rows = await dollyJson<{ name: string; fsType: string; storageClassName: string }[]>(socket, [
      'volume',
      'ls',
    ]);
    assert.deepEqual(
      rows.map((row) => [row.name, row.storageClassName, row.fsType]),
      [
        ['plain', 'dolly', 'ext4'],
        ['plain-2', 'fast-xfs', 'xfs'],
      ],
    );
    assert.match(
      await dollyOk(socket, ['get', 'sc']),
      /^fast-xfs \(default\)\s+dolly\.csi\.dev\s+Delete\s+Immediate\s+true/m,
    );
  });

  it('apply again: the same is unchanged, a larger request expands, anything else is refused', async () => {
    const yaml = claim(
      'grow',
      'default',
      '  accessModes: [ReadWriteOnce]\n  storageClassName: cloning\n  resources: {requests: {storage: 64Mi}}\n',
    );
    assert.match((await apply(yaml)).stdout, /created/);
    assert.match((await apply(yaml)).stdout, /unchanged/);
    assert.match(
      (await apply(yaml.replace('64Mi', '128Mi'))).stdout,
      /persistentvolumeclaim\/grow configured/,
    );
    assert.equal(
      (await claimsIn('default')).find((item) => item.metadata.name === 'grow')?.status.capacity?.storage,
      '128Mi',
    );
    await refused(
      yaml.replace('64Mi', '32Mi'),
      /can not be less than before \(128Mi\); volumes do not shrink/,
    );
    await refused(
      yaml.replace('ReadWriteOnce', 'ReadOnlyMany'),
      /its spec cannot change once made, except resources\.requests\.storage/,
    );
    await refused(
      yaml.replace('cloning', 'csi-cloning'),
      /spec\.storageClassName cannot change \(it is cloning\)/,
    );
  });

  it('a command killed between its record and its CreateVolume leaves a Pending claim that the next apply finishes', async () => {
    const yaml = claim(
      'crashy',
      'default',
      '  accessModes: [ReadWriteOnce]\n  storageClassName: cloning\n  resources: {requests: {storage: 32Mi}}\n',
    );
    const before = (await driver.client.listVolumes({})).entries.length;
    for (const point of ['apply:claim-pending', 'apply:volume-created']) {
      const killed = await dolly(socket, ['apply', '-f', '-'], {
        stdin: yaml,
        env: { DOLLY_FAULT_CRASH: point },
      });
      assert.equal(killed.signal, 'SIGKILL', point);
      assert.equal(
        (await claimsIn('default')).find((item) => item.metadata.name === 'crashy')?.status.phase,
        'Pending',
      );
      const clone = claim(
        'crashy-clone',
        'default',
        '  accessModes: [ReadWriteOnce]\n  storageClassName: cloning\n  resources: {requests: {storage: 32Mi}}\n  dataSource: {kind: PersistentVolumeClaim, name: crashy}\n',
      );
      await refused(
        clone,
        /source persistentvolumeclaim crashy is not bound yet \(Pending: its apply did not finish\); apply it again, then the clone/,
      );
      assert.match((await apply(yaml)).stdout, /persistentvolumeclaim\/crashy created/);
      assert.equal(
        (await claimsIn('default')).find((item) => item.metadata.name === 'crashy')?.status.phase,
        'Bound',
      );
      assert.equal((await driver.client.listVolumes({})).entries.length, before + 1, 'one volume, not two');
      await dollyOk(socket, ['delete', 'pvc', 'crashy']);
      assert.equal((await driver.client.listVolumes({})).entries.length, before);
    }
  });

  it('commands at the same time: one name is made once, clones of one source all succeed', async () => {
    const before = (await driver.client.listVolumes({})).entries.length;
    const creates = await Promise.all(
      Array.from({ length: 4 }, () => dolly(socket, ['volume', 'create', 'race', '--size', '16Mi'])),
    );
    assert.deepEqual(creates.map((result) => result.code).sort(), [0, 1, 1, 1]);
    for (const result of creates.filter((r) => r.code === 1))
      assert.match(result.stderr, /race already exists/);
    const clones = await Promise.all(
      Array.from({ length: 5 }, (_, index) => dolly(socket, ['volume', 'clone', 'race', `race-${index}`])),
    );
    assert.deepEqual(
      clones.map((result) => result.code),
      [0, 0, 0, 0, 0],
      clones.map((r) => r.stderr).join(''),
    );
    const yaml = claim(
      'race-apply',
      'default',
      '  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 16Mi}}\n',
    );
    const applies = await Promise.all(Array.from({ length: 3 }, () => apply(yaml)));
    assert.deepEqual(applies.map((result) => result.stdout.trim().split(' ').pop()).sort(), [
      'created',
      'unchanged',
      'unchanged',
    ]);
    assert.equal((await driver.client.listVolumes({})).entries.length, before + 7);
    const tree = await dollyJson<{ name: string; children: { name: string }[] }[]>(socket, [
      'volume',
      'tree',
    ]);
    assert.equal(tree.find((node) => node.name === 'race')?.children.length, 5);
  });

  it('delete -f deletes what a file names; again is not found (exit 1) unless --ignore-not-found', async () => {
    const file = `${EXAMPLES}kubernetes-docs/02-clone-of-pvc-1.yaml`;
    assert.equal(
      await dollyOk(socket, ['delete', '-f', file]),
      'persistentvolumeclaim/clone-of-pvc-1 (namespace myns) deleted\n',
    );
    const again = await dolly(socket, ['delete', '-f', file]);
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /persistentvolumeclaim\/clone-of-pvc-1 \(namespace myns\) refused: persistentvolumeclaim clone-of-pvc-1 in namespace myns not found/,
    );
    assert.equal((await dolly(socket, ['delete', '-f', file, '--ignore-not-found'])).code, 0);
    const namespaceInUse = await dolly(socket, ['delete', 'namespace', 'myns']);
    assert.equal(namespaceInUse.code, 1);
    assert.match(namespaceInUse.stderr, /namespace myns still holds persistentvolumeclaim\/from-snap/);
    const unknownKind = await dolly(socket, ['get', 'pods']);
    assert.equal(unknownKind.code, 2);
    assert.match(unknownKind.stderr, /unknown kind pods/);
  });

  it("-n that contradicts the object's namespace is refused, as kubectl does", async () => {
    await refused(
      claim('x', 'myns', '  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 16Mi}}\n'),
      /its namespace myns does not match --namespace other/,
      ['-n', 'other'],
    );
  });
});
