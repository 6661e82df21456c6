import { Command, Option } from 'commander';
import { FS_TYPE_ANNOTATION, SNAPSHOT_GROUP } from '../../k8s/objects.js';
import type { PersistentVolumeClaim } from '../../k8s/objects.js';
import { formatBytes, formatQuantity } from '../../k8s/quantity.js';
import type { NamespaceName, ObjectName } from '../../k8s/names.js';
import { isObjectName } from '../../k8s/names.js';
import { applyClaim, claimKey, deleteClaim, describeClaim, expandClaim } from '../../local/claims.js';
import type { LocalContext } from '../../local/context.js';
import { UserError } from '../../local/errors.js';
import { mountClaim, unmountClaim, unmountTarget } from '../../local/mounts.js';
import { snapshotKey } from '../../local/snapshots.js';
import { lineage, snapshotViews, volumeViews } from '../../local/views.js';
import type { LineageNode, VolumeView } from '../../local/views.js';
import { json, table, tree, write } from '../output.js';
import type { TreeNode } from '../output.js';
import {
  listNamespace,
  listOptions,
  namespaceOf,
  objectName,
  outputFormat,
  outputOptions,
  removeCommand,
  sizeArgument,
  where,
  withContext,
  writeStructured,
} from '../session.js';
import { terminalSteps } from '../terminal-progress.js';

function namespaceOption(): Option {
  return new Option('-n, --namespace <namespace>', 'namespace of the volume').default('default');
}

function claimObject(
  namespace: NamespaceName,
  name: ObjectName,
  size: string,
  options: {
    volumeMode: 'Filesystem' | 'Block';
    storageClassName?: string;
    fsType?: string;
    accessModes?: PersistentVolumeClaim['spec']['accessModes'];
    dataSource?: PersistentVolumeClaim['spec']['dataSource'];
  },
): PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name,
      namespace,
      labels: {},
      annotations: options.fsType !== undefined ? { [FS_TYPE_ANNOTATION]: options.fsType } : {},
    },
    spec: {
      accessModes: options.accessModes ?? ['ReadWriteOnce'],
      resources: { requests: { storage: size } },
      ...(options.storageClassName !== undefined && { storageClassName: options.storageClassName }),
      volumeMode: options.volumeMode,
      ...(options.dataSource && { dataSource: options.dataSource }),
    },
  };
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = process.hrtime.bigint();
  const result = await work();
  return [result, Number(process.hrtime.bigint() - started) / 1e6];
}

async function capacityOf(
  context: LocalContext,
  namespace: NamespaceName,
  name: ObjectName,
): Promise<string> {
  const record = await context.catalog.get(claimKey(namespace, name));
  return record?.volume ? formatQuantity(record.volume.capacityBytes) : '?';
}

function mountedAt(view: VolumeView): string {
  if (view.mounts.length === 0) return '-';
  return view.mounts
    .map(
      (mount) =>
        `${mount.target}${mount.readOnly ? ' (ro)' : ''}${mount.state === 'mounted' ? '' : ` (${mount.state})`}`,
    )
    .join(', ');
}

function sourceText(view: VolumeView): string {
  if (!view.source) return '-';
  return `${view.source.kind === 'VolumeSnapshot' ? 'snapshot' : 'volume'}/${view.source.name}`;
}

function size(bytes: number | undefined): string {
  return bytes === undefined ? '-' : formatQuantity(bytes);
}

function used(bytes: number | undefined): string {
  return bytes === undefined ? '-' : formatBytes(bytes);
}

function lsTable(views: VolumeView[], wide: boolean, allNamespaces: boolean): string {
  const pending = views.some((view) => view.phase !== 'Bound');
  const head = [
    ...(allNamespaces ? ['NAMESPACE'] : []),
    'NAME',
    ...(pending || wide ? ['STATUS'] : []),
    'SIZE',
    'USED',
    'MODE',
    'FS',
    'SOURCE',
    'MOUNTED AT',
    ...(wide ? ['CLASS', 'ID'] : []),
  ];
  const rows = views.map((view) => [
    ...(allNamespaces ? [view.namespace] : []),
    view.name,
    ...(pending || wide ? [view.phase] : []),
    size(view.capacityBytes),
    used(view.usedBytes),
    view.volumeMode,
    view.fsType ?? '-',
    sourceText(view),
    mountedAt(view),
    ...(wide ? [view.storageClassName, view.volumeId ?? '-'] : []),
  ]);
  return table(head, rows);
}

function treeNodes(nodes: LineageNode[], allNamespaces: boolean): TreeNode[] {
  return nodes.map((node) => {
    const name = allNamespaces ? `${node.namespace}/${node.name}` : node.name;
    const what = node.kind === 'VolumeSnapshot' ? 'snapshot' : node.made === 'new' ? 'volume' : node.made;
    const from = node.deletedSource !== undefined ? `, from ${node.deletedSource} (deleted)` : '';
    return {
      label: `${name}  ${size(node.sizeBytes)}  (${what}${from})`,
      children: treeNodes(node.children, allNamespaces),
    };
  });
}

export function volumeCommand(): Command {
  const volume = new Command('volume').description(
    'volumes on this host: create, mount, clone, snapshot-restore, list',
  );

  volume
    .command('create <name>')
    .description('create an empty volume (a PersistentVolumeClaim in the default class)')
    .requiredOption('--size <quantity>', 'size, as a Kubernetes quantity: 20Gi, 500Mi, 1G')
    .option('--block', 'a raw block device instead of a filesystem')
    .addOption(
      new Option('--fs <type>', "filesystem to make on first mount (default: the class's, ext4)").choices([
        'ext4',
        'xfs',
      ]),
    )
    .option('--class <storageClass>', 'StorageClass (default: the default class)')
    .addOption(namespaceOption())
    .action(
      async (
        nameArg: string,
        options: { size: string; block?: boolean; fs?: string; class?: string },
        command: Command,
      ) => {
        const name = objectName(nameArg, 'volume name');
        const sizeText = sizeArgument(options.size, '--size');
        if (options.block && options.fs !== undefined)
          throw new UserError('--fs is for filesystem volumes; a --block volume has none', 2);
        const { namespace } = namespaceOf(command);
        await withContext(command, async (context) => {
          const claim = claimObject(namespace, name, sizeText, {
            volumeMode: options.block ? 'Block' : 'Filesystem',
            ...(options.class !== undefined && { storageClassName: options.class }),
            ...(options.fs !== undefined && { fsType: options.fs }),
          });
          await applyClaim(context, claim, { mustBeNew: true });
          write(
            `volume ${name} created${where(namespace)}: ${await capacityOf(context, namespace, name)}${options.block ? ', block' : ''}`,
          );
        });
      },
    );

  volume
    .command('mount <name> <dir>')
    .description('make a volume appear at a directory (stage and publish it, as the kubelet does)')
    .option('--read-only', 'mount it read-only')
    .addOption(namespaceOption())
    .action(async (nameArg: string, dir: string, options: { readOnly?: boolean }, command: Command) => {
      const name = objectName(nameArg, 'volume name');
      const { namespace } = namespaceOf(command);
      await withContext(command, async (context) => {
        const target = await mountClaim(context, namespace, name, dir, {
          readOnly: options.readOnly ?? false,
          step: terminalSteps(),
        });
        write(
          `volume ${name}${where(namespace)} mounted at ${target}${options.readOnly ? ' (read-only)' : ''}`,
        );
      });
    });

  volume
    .command('umount <dir-or-name>')
    .alias('unmount')
    .description('unmount what dolly mounted at a directory (or every mount of a named volume)')
    .addOption(namespaceOption())
    .action(async (what: string, _options: object, command: Command) => {
      await withContext(command, async (context) => {
        if (what.includes('/') || what === '.' || what === '..') {
          const record = await unmountTarget(context, what);
          write(
            `volume ${record.object.metadata.name}${where(record.object.metadata.namespace)} unmounted from ${what}`,
          );
        } else {
          const { namespace } = namespaceOf(command);
          const name = objectName(what, 'volume name');
          await unmountClaim(context, namespace, name);
          write(`volume ${name}${where(namespace)} unmounted`);
        }
      });
    });

  volume
    .command('clone <source> <name>')
    .description('make an independent copy of a volume, instantly (a PVC whose dataSource is the source)')
    .option('--size <quantity>', "size of the clone (default: the source's; never smaller)")
    .option('--class <storageClass>', "StorageClass of the clone (default: the source's)")
    .addOption(namespaceOption())
    .action(
      async (
        sourceArg: string,
        nameArg: string,
        options: { size?: string; class?: string },
        command: Command,
      ) => {
        const source = objectName(sourceArg, 'source volume');
        const name = objectName(nameArg, 'volume name');
        const sizeText = options.size === undefined ? undefined : sizeArgument(options.size, '--size');
        const { namespace } = namespaceOf(command);
        await withContext(command, async (context) => {
          const record = await context.catalog.get(claimKey(namespace, source));
          if (!record?.volume) {
            throw new UserError(
              record
                ? `${describeClaim(namespace, source)} is not bound yet`
                : `${describeClaim(namespace, source)} not found`,
            );
          }
          const claim = claimObject(
            namespace,
            name,
            sizeText ?? formatQuantity(record.volume.capacityBytes),
            {
              volumeMode: record.object.spec.volumeMode,
              storageClassName: options.class ?? record.storageClassName,
              accessModes: record.object.spec.accessModes,
              ...(record.volume.fsType !== undefined && { fsType: record.volume.fsType }),
              dataSource: { apiGroup: '', kind: 'PersistentVolumeClaim', name: source },
            },
          );
          const [, ms] = await timed(() => applyClaim(context, claim, { mustBeNew: true }));
          write(
            `volume ${name}${where(namespace)} cloned from ${source} in ${ms.toFixed(1)} ms: ${await capacityOf(context, namespace, name)}`,
          );
        });
      },
    );

  volume
    .command('restore <snapshot> <name>')
    .description('make a new volume from a snapshot, instantly')
    .option('--size <quantity>', "size (default: the snapshot's; never smaller)")
    .option('--class <storageClass>', "StorageClass (default: the snapshot source's)")
    .addOption(namespaceOption())
    .action(
      async (
        snapshotArg: string,
        nameArg: string,
        options: { size?: string; class?: string },
        command: Command,
      ) => {
        const snapshot = objectName(snapshotArg, 'snapshot name');
        const name = objectName(nameArg, 'volume name');
        const sizeText = options.size === undefined ? undefined : sizeArgument(options.size, '--size');
        const { namespace } = namespaceOf(command);
        await withContext(command, async (context) => {
          const record = await context.catalog.get(snapshotKey(namespace, snapshot));
          if (!record?.snapshot) {
            throw new UserError(
              record
                ? `snapshot ${snapshot} is not ready yet`
                : `snapshot ${snapshot} not found${where(namespace)}`,
            );
          }
          const sourceClass = record.snapshot.sourceStorageClassName;
          const classExists =
            isObjectName(sourceClass) &&
            (await context.catalog.get({ kind: 'StorageClass', name: sourceClass }));
          const claim = claimObject(
            namespace,
            name,
            sizeText ?? formatQuantity(record.snapshot.restoreBytes),
            {
              volumeMode: record.snapshot.volumeMode,
              ...((options.class ?? (classExists ? sourceClass : undefined)) !== undefined && {
                storageClassName: options.class ?? sourceClass,
              }),
              ...(record.snapshot.fsType !== undefined && { fsType: record.snapshot.fsType }),
              dataSource: { apiGroup: SNAPSHOT_GROUP, kind: 'VolumeSnapshot', name: snapshot },
            },
          );
          const [, ms] = await timed(() => applyClaim(context, claim, { mustBeNew: true }));
          write(
            `volume ${name}${where(namespace)} restored from snapshot ${snapshot} in ${ms.toFixed(1)} ms: ${await capacityOf(context, namespace, name)}`,
          );
        });
      },
    );

  outputOptions(
    listOptions(
      volume
        .command('ls')
        .alias('list')
        .description('list volumes: size, space used, mode, filesystem, source, where mounted'),
    ),
  ).action(async (_options: object, command: Command) => {
    const namespace = listNamespace(command);
    const format = outputFormat(command);
    await withContext(command, async (context) => {
      const views = await volumeViews(context, namespace);
      if (writeStructured(format, views)) return;
      const text = lsTable(views, format === 'wide', namespace === undefined);
      write(text === '' ? `no volumes${namespace === undefined ? '' : where(namespace)}` : text);
    });
  });

  listOptions(
    volume
      .command('tree')
      .description('lineage: volumes, their clones and snapshots, and what was restored from them'),
  )
    .option('--json', 'JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const namespace = listNamespace(command);
      await withContext(command, async (context) => {
        const roots = lineage(await volumeViews(context, namespace), await snapshotViews(context, namespace));
        if (options.json) write(json(roots));
        else write(roots.length === 0 ? 'no volumes' : tree(treeNodes(roots, namespace === undefined)));
      });
    });

  volume
    .command('expand <name> <size>')
    .description('grow a volume (and its filesystem, mounted or not)')
    .addOption(namespaceOption())
    .action(async (nameArg: string, sizeArg: string, _options: object, command: Command) => {
      const name = objectName(nameArg, 'volume name');
      const sizeText = sizeArgument(sizeArg, 'size');
      const { namespace } = namespaceOf(command);
      await withContext(command, async (context) => {
        const record = await expandClaim(context, namespace, name, sizeText);
        write(`volume ${name}${where(namespace)} is ${size(record.volume?.capacityBytes)}`);
      });
    });

  volume.addCommand(
    removeCommand(
      'volume',
      'delete volumes (refused while mounted); their clones and snapshots stay',
      deleteClaim,
    ),
  );

  return volume;
}
