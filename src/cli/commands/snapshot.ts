import { Command, Option } from 'commander';
import { formatBytes, formatQuantity } from '../../k8s/quantity.js';
import { applySnapshot, deleteSnapshot } from '../../local/snapshots.js';
import { UserError } from '../../local/errors.js';
import { snapshotViews } from '../../local/views.js';
import { table, write } from '../output.js';
import {
  listNamespace,
  listOptions,
  namespaceOf,
  objectName,
  outputFormat,
  outputOptions,
  removeCommand,
  where,
  withContext,
  writeStructured,
} from '../session.js';

export function snapshotCommand(): Command {
  const snapshot = new Command('snapshot').description(
    'read-only point-in-time copies of volumes (VolumeSnapshots)',
  );

  snapshot
    .command('create <volume> <name>')
    .description(
      'take a snapshot of a volume, instantly (mounted volumes are frozen for the instant it takes)',
    )
    .option('--class <snapshotClass>', 'VolumeSnapshotClass (default: the default class)')
    .addOption(
      new Option('-n, --namespace <namespace>', 'namespace of the volume and the snapshot').default(
        'default',
      ),
    )
    .action(async (volumeArg: string, nameArg: string, options: { class?: string }, command: Command) => {
      const volume = objectName(volumeArg, 'volume name');
      const name = objectName(nameArg, 'snapshot name');
      const { namespace } = namespaceOf(command);
      await withContext(command, async (context) => {
        if (await context.catalog.get({ kind: 'VolumeSnapshot', name, namespace })) {
          throw new UserError(`snapshot ${name}${where(namespace)} already exists; choose another name`);
        }
        const started = process.hrtime.bigint();
        await applySnapshot(context, {
          apiVersion: 'snapshot.storage.k8s.io/v1',
          kind: 'VolumeSnapshot',
          metadata: { name, namespace, labels: {}, annotations: {} },
          spec: {
            source: { persistentVolumeClaimName: volume },
            ...(options.class !== undefined && { volumeSnapshotClassName: options.class }),
          },
        });
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        write(`snapshot ${name}${where(namespace)} of volume ${volume} taken in ${ms.toFixed(1)} ms`);
      });
    });

  outputOptions(listOptions(snapshot.command('ls').alias('list').description('list snapshots'))).action(
    async (_options: object, command: Command) => {
      const namespace = listNamespace(command);
      const format = outputFormat(command);
      await withContext(command, async (context) => {
        const views = await snapshotViews(context, namespace);
        if (writeStructured(format, views)) return;
        const wide = format === 'wide';
        const head = [
          ...(namespace === undefined ? ['NAMESPACE'] : []),
          'NAME',
          'READY',
          'SOURCE',
          'SIZE',
          'USED',
          ...(wide ? ['CLASS', 'ID'] : []),
        ];
        const rows = views.map((view) => [
          ...(namespace === undefined ? [view.namespace] : []),
          view.name,
          String(view.readyToUse),
          `volume/${view.sourceClaim}`,
          view.restoreBytes === undefined ? '-' : formatQuantity(view.restoreBytes),
          view.usedBytes === undefined ? '-' : formatBytes(view.usedBytes),
          ...(wide ? [view.snapshotClassName, view.snapshotId ?? '-'] : []),
        ]);
        write(rows.length === 0 ? 'no snapshots' : table(head, rows));
      });
    },
  );

  snapshot.addCommand(
    removeCommand('snapshot', 'delete snapshots; volumes restored from them stay', deleteSnapshot),
  );

  return snapshot;
}
