import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEFAULTS } from '../../src/cli/serve.js';
import { TOPOLOGY_KEY } from '../../src/csi/server.js';
import { FS_TYPES } from '../../src/pool/meta.js';
import {
  DEPLOY,
  EXAMPLES,
  field,
  findObject,
  flagsOf,
  kustomizeBuild,
  loadYaml,
  yamlFiles,
} from '../helpers/k8s.js';
import type { Container, HostPathVolume, K8sObject } from '../helpers/k8s.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** The options of `dolly serve`, read from its commander definition through --help. */
async function serveFlags(): Promise<Set<string>> {
  const { stdout } = await promisify(execFile)(process.execPath, [MAIN, 'serve', '--help']);
  return new Set([...stdout.matchAll(/^\s+(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((match) => match[1] as string));
}

/**
 * The DaemonSet, CSIDriver, StorageClasses and the driver agree: driver name, socket paths,
 * topology key, filesystem types, ports, and every flag passed to `dolly serve` exists.
 */
describe('Kubernetes manifests agree with the driver', () => {
  let objects: K8sObject[];
  let containers: Container[];
  let volumes: HostPathVolume[];
  const container = (name: string): Container => {
    const found = containers.find((candidate) => candidate.name === name);
    assert.ok(found, `container ${name}`);
    return found;
  };
  const hostPathOf = (volumeName: string): { path: string; type?: string } => {
    const volume = volumes.find((candidate) => candidate.name === volumeName);
    assert.ok(volume?.hostPath, `hostPath volume ${volumeName}`);
    return volume.hostPath;
  };
  const mountOf = (c: Container, mountPath: string): { name: string; mountPropagation?: string } => {
    const mount = c.volumeMounts?.find((candidate) => candidate.mountPath === mountPath);
    assert.ok(mount, `${c.name} mounts something at ${mountPath}`);
    return mount;
  };

  before(async () => {
    objects = await kustomizeBuild(DEPLOY);
    const daemonSet = findObject(objects, 'DaemonSet', 'dolly-node');
    containers = field(daemonSet, 'spec.template.spec.containers') as Container[];
    volumes = field(daemonSet, 'spec.template.spec.volumes') as HostPathVolume[];
  });

  it('one driver name everywhere: CSIDriver, --driver-name, StorageClasses, VolumeSnapshotClass, socket directory', async () => {
    const name = DEFAULTS.driverName;
    assert.equal(findObject(objects, 'CSIDriver').metadata.name, name);
    assert.equal(flagsOf(container('dolly').args ?? []).get('--driver-name'), name);
    const exampleObjects = (await Promise.all((await yamlFiles(EXAMPLES)).map(loadYaml)))
      .flat()
      .map(({ object }) => object);
    const classes = [...objects, ...exampleObjects].filter((object) => object.kind === 'StorageClass');
    assert.ok(classes.length >= 6);
    for (const storageClass of classes)
      assert.equal(storageClass['provisioner'], name, storageClass.metadata.name);
    assert.equal(findObject(objects, 'VolumeSnapshotClass')['driver'], name);
    assert.equal(hostPathOf('socket-dir').path, `/var/lib/kubelet/plugins/${name}`);
  });

  it('the driver and every sidecar use one socket, and the kubelet is told its host path', () => {
    const socketMount = '/csi';
    const dollyFlags = flagsOf(container('dolly').args ?? []);
    assert.equal(dollyFlags.get('--endpoint'), `unix://${socketMount}/csi.sock`);
    const sidecars = containers.filter((c) => c.name !== 'dolly');
    assert.deepEqual(sidecars.map((c) => c.name).sort(), [
      'csi-provisioner',
      'csi-resizer',
      'csi-snapshotter',
      'liveness-probe',
      'node-driver-registrar',
    ]);
    for (const c of containers) {
      assert.equal(mountOf(c, socketMount).name, 'socket-dir', c.name);
      if (c.name !== 'dolly')
        assert.equal(flagsOf(c.args ?? []).get('--csi-address'), `${socketMount}/csi.sock`, c.name);
    }
    const registrar = flagsOf(container('node-driver-registrar').args ?? []);
    assert.equal(registrar.get('--kubelet-registration-path'), `${hostPathOf('socket-dir').path}/csi.sock`);
    assert.equal(
      registrar.get('--kubelet-registration-path'),
      '/var/lib/kubelet/plugins/dolly.csi.dev/csi.sock',
    );
    assert.equal(mountOf(container('node-driver-registrar'), '/registration').name, 'registration-dir');
    assert.equal(hostPathOf('registration-dir').path, '/var/lib/kubelet/plugins_registry');
  });

  it('every flag passed to dolly serve exists in its CLI, and the values are ones it accepts', async () => {
    const known = await serveFlags();
    assert.ok(known.has('--endpoint') && known.has('--node-id'), 'the help output was parsed');
    const args = container('dolly').args ?? [];
    assert.equal(args[0], 'serve');
    for (const flag of flagsOf(args).keys()) {
      assert.ok(known.has(flag), `dolly serve has no ${flag} (known: ${[...known].join(' ')})`);
    }
    const flags = flagsOf(args);
    assert.equal(flags.get('--log-format'), 'json');
    assert.equal(flags.get('--expansion'), 'node');
    assert.equal(flags.get('--pool'), DEFAULTS.pool);
  });

  it('the node ID is the Kubernetes node name (a valid topology label value), from the downward API', () => {
    const dolly = container('dolly');
    assert.equal(flagsOf(dolly.args ?? []).get('--node-id'), '$(NODE_NAME)');
    const env = dolly.env?.find((variable) => variable.name === 'NODE_NAME');
    assert.equal(env?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
    for (const name of ['csi-provisioner', 'csi-snapshotter']) {
      const nodeName = container(name).env?.find((variable) => variable.name === 'NODE_NAME');
      assert.equal(nodeName?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName', name);
    }
    assert.equal(TOPOLOGY_KEY, `topology.${DEFAULTS.driverName}/node`);
  });

  it("topology: the only topology key any manifest names is the driver's", async () => {
    const files = [...(await yamlFiles(DEPLOY)), ...(await yamlFiles(EXAMPLES))];
    for (const file of files) {
      for (const { file: name, object } of await loadYaml(file)) {
        const keys = JSON.stringify(object).match(/topology\.[a-z0-9.-]+\/[a-z0-9-]+/g) ?? [];
        for (const key of keys) assert.equal(key, TOPOLOGY_KEY, name);
      }
    }
    const provisioner = flagsOf(container('csi-provisioner').args ?? []);
    assert.equal(provisioner.get('--feature-gates'), 'Topology=true');
    assert.equal(provisioner.get('--strict-topology'), 'true');
  });

  it('filesystem types: every StorageClass names one the driver supports; ext4 is the default', async () => {
    const exampleObjects = (await Promise.all((await yamlFiles(EXAMPLES)).map(loadYaml)))
      .flat()
      .map(({ object }) => object);
    for (const storageClass of [...objects, ...exampleObjects].filter(
      (object) => object.kind === 'StorageClass',
    )) {
      const fsType = (storageClass['parameters'] as Record<string, string> | undefined)?.[
        'csi.storage.k8s.io/fstype'
      ];
      assert.ok(
        fsType !== undefined && (FS_TYPES as readonly string[]).includes(fsType),
        storageClass.metadata.name,
      );
      assert.equal(storageClass['volumeBindingMode'], 'WaitForFirstConsumer', storageClass.metadata.name);
      assert.equal(storageClass['allowVolumeExpansion'], true, storageClass.metadata.name);
    }
    assert.equal(
      (findObject(objects, 'StorageClass', 'dolly')['parameters'] as Record<string, string>)[
        'csi.storage.k8s.io/fstype'
      ],
      'ext4',
    );
    assert.equal(
      (findObject(objects, 'StorageClass', 'dolly-xfs')['parameters'] as Record<string, string>)[
        'csi.storage.k8s.io/fstype'
      ],
      'xfs',
    );
    assert.equal(flagsOf(container('csi-provisioner').args ?? []).get('--default-fstype'), 'ext4');
  });

  it('the CSIDriver object says what Dolly does', () => {
    const spec = findObject(objects, 'CSIDriver')['spec'];
    assert.deepEqual(spec, {
      attachRequired: false,
      podInfoOnMount: false,
      storageCapacity: true,
      volumeLifecycleModes: ['Persistent'],
      fsGroupPolicy: 'File',
    });
  });

  it('host access: privileged, host /dev, the kubelet directory with Bidirectional propagation, the pool', () => {
    const dolly = container('dolly');
    assert.equal(dolly.securityContext?.privileged, true);
    assert.equal(hostPathOf(mountOf(dolly, '/dev').name).path, '/dev');
    const kubelet = mountOf(dolly, '/var/lib/kubelet');
    assert.equal(kubelet.mountPropagation, 'Bidirectional');
    assert.equal(hostPathOf(kubelet.name).path, '/var/lib/kubelet');
    const pool = mountOf(dolly, DEFAULTS.pool);
    assert.deepEqual(hostPathOf(pool.name), { path: '/var/lib/dolly', type: 'DirectoryOrCreate' });
    for (const c of containers.filter((candidate) => candidate.name !== 'dolly')) {
      assert.notEqual(c.securityContext?.privileged, true, `${c.name} needs no privileges`);
    }
  });

  it('sidecars: distributed provisioning with capacity, node-mode snapshots, one leader for the resizer', () => {
    const provisioner = flagsOf(container('csi-provisioner').args ?? []);
    assert.equal(provisioner.get('--node-deployment'), 'true');
    assert.equal(provisioner.get('--enable-capacity'), 'true');
    assert.equal(provisioner.get('--capacity-ownerref-level'), '0');
    assert.equal(provisioner.has('--leader-election'), false);
    const envNames = (container('csi-provisioner').env ?? []).map((variable) => variable.name).sort();
    assert.deepEqual(envNames, ['NAMESPACE', 'NODE_NAME', 'POD_NAME']);
    const snapshotter = flagsOf(container('csi-snapshotter').args ?? []);
    assert.equal(snapshotter.get('--node-deployment'), 'true');
    assert.equal(snapshotter.has('--leader-election'), false);
    const resizer = flagsOf(container('csi-resizer').args ?? []);
    assert.equal(resizer.get('--leader-election'), 'true');
  });

  it('ports: metrics 9810 and health 9808 are distinct, declared, and what the probes use', () => {
    const dolly = container('dolly');
    const metricsAddress = flagsOf(dolly.args ?? []).get('--metrics-address');
    assert.equal(metricsAddress?.split(':').pop(), '9810');
    const liveness = flagsOf(container('liveness-probe').args ?? []).get('--http-endpoint');
    assert.equal(liveness, ':9808');
    const ports = new Map((dolly.ports ?? []).map((port) => [port.name, port.containerPort]));
    assert.equal(ports.get('metrics'), 9810);
    assert.equal(ports.get('healthz'), 9808);
    assert.equal(dolly.livenessProbe?.httpGet?.port, 'healthz');
    assert.equal(dolly.livenessProbe?.httpGet?.path, '/healthz');
    const all = containers.flatMap((c) => (c.ports ?? []).map((port) => port.containerPort));
    assert.equal(new Set(all).size, all.length, 'no port is declared twice in the pod');
  });
});
