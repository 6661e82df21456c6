import { Command, Option } from 'commander';
import type { NamespaceName } from '../../k8s/names.js';
import { describeIdentity } from '../../k8s/objects.js';
import { formatQuantity } from '../../k8s/quantity.js';
import { applyDocuments, deleteDocuments, deleteObject } from '../../local/apply.js';
import type { Outcome } from '../../local/apply.js';
import type { LocalContext } from '../../local/context.js';
import { readDocuments } from '../../local/documents.js';
import { UserError } from '../../local/errors.js';
import {
  claimObject,
  isDefaultSnapshotClass,
  isDefaultStorageClass,
  shortAccessModes,
  snapshotObject,
} from '../../local/views.js';
import { age, table, write } from '../output.js';
import {
  listNamespace,
  namespaceOf,
  objectName,
  outputFormat,
  outputOptions,
  withContext,
  writeStructured,
} from '../session.js';

/** Prints each outcome as kubectl does; refusals go to stderr and make the command fail. */
function report(outcomes: Outcome[]): void {
  let failed = 0;
  for (const outcome of outcomes) {
    const name = describeIdentity(outcome.identity);
    const inNamespace =
      outcome.identity.namespace && outcome.identity.namespace !== 'default'
        ? ` (namespace ${outcome.identity.namespace})`
        : '';
    if (outcome.error !== undefined) {
      failed += 1;
      process.stderr.write(`dolly: ${name}${inNamespace} refused: ${outcome.error}\n`);
    } else {
      write(`${name}${inNamespace} ${outcome.result ?? ''}`);
    }
  }
  if (failed > 0)
    throw new UserError(
      `${failed} of ${outcomes.length} object${outcomes.length > 1 ? 's' : ''} refused; nothing was made of ${failed > 1 ? 'those' : 'that one'}`,
    );
}

const KIND_ALIASES: Record<string, string> = {
  pvc: 'PersistentVolumeClaim',
  pvcs: 'PersistentVolumeClaim',
  persistentvolumeclaim: 'PersistentVolumeClaim',
  persistentvolumeclaims: 'PersistentVolumeClaim',
  vs: 'VolumeSnapshot',
  volumesnapshot: 'VolumeSnapshot',
  volumesnapshots: 'VolumeSnapshot',
  sc: 'StorageClass',
  storageclass: 'StorageClass',
  storageclasses: 'StorageClass',
  vsclass: 'VolumeSnapshotClass',
  vsclasses: 'VolumeSnapshotClass',
  volumesnapshotclass: 'VolumeSnapshotClass',
  volumesnapshotclasses: 'VolumeSnapshotClass',
  ns: 'Namespace',
  namespace: 'Namespace',
  namespaces: 'Namespace',
};

function kindOf(text: string): string {
  const kind = KIND_ALIASES[text.toLowerCase()];
  if (!kind) {
    throw new UserError(
      `unknown kind ${text}: dolly get knows pvc, volumesnapshot, storageclass, volumesnapshotclass, namespace`,
      2,
    );
  }
  return kind;
}

interface Listing {
  objects: Record<string, unknown>[];
  head: string[];
  rows: string[][];
}

async function listKind(
  context: LocalContext,
  kind: string,
  namespace: NamespaceName | undefined,
  name: string | undefined,
  wide: boolean,
): Promise<Listing> {
  const { catalog } = context;
  const pick = <T extends { object: { metadata: { name: string } } }>(records: T[]): T[] =>
    name === undefined ? records : records.filter((record) => record.object.metadata.name === name);
  const all = namespace === undefined;
  switch (kind) {
    case 'PersistentVolumeClaim': {
      const records = pick(await catalog.list('PersistentVolumeClaim', namespace));
      return {
        objects: records.map(claimObject),
        head: [
          ...(all ? ['NAMESPACE'] : []),
          'NAME',
          'STATUS',
          'CAPACITY',
          'ACCESS MODES',
          'STORAGECLASS',
          ...(wide ? ['VOLUME', 'VOLUMEMODE'] : []),
          'AGE',
        ],
        rows: records.map((record) => [
          ...(all ? [record.object.metadata.namespace] : []),
          record.object.metadata.name,
          record.phase,
          record.volume ? formatQuantity(record.volume.capacityBytes) : '',
          record.volume ? shortAccessModes(record.object.spec.accessModes) : '',
          record.storageClassName,
          ...(wide ? [record.volume?.id ?? '', record.object.spec.volumeMode] : []),
          age(record.createdAt),
        ]),
      };
    }
    case 'VolumeSnapshot': {
      const records = pick(await catalog.list('VolumeSnapshot', namespace));
      return {
        objects: records.map(snapshotObject),
        head: [
          ...(all ? ['NAMESPACE'] : []),
          'NAME',
          'READYTOUSE',
          'SOURCEPVC',
          'RESTORESIZE',
          'SNAPSHOTCLASS',
          ...(wide ? ['SNAPSHOTHANDLE'] : []),
          'AGE',
        ],
        rows: records.map((record) => [
          ...(all ? [record.object.metadata.namespace] : []),
          record.object.metadata.name,
          String(record.phase === 'Ready'),
          record.object.spec.source.persistentVolumeClaimName,
          record.snapshot ? formatQuantity(record.snapshot.restoreBytes) : '',
          record.snapshotClassName,
          ...(wide ? [record.snapshot?.id ?? ''] : []),
          age(record.createdAt),
        ]),
      };
    }
    case 'StorageClass': {
      const records = pick(await catalog.list('StorageClass'));
      return {
        objects: records.map((record) => ({
          ...record.object,
          metadata: { ...record.object.metadata, creationTimestamp: record.createdAt },
        })),
        head: ['NAME', 'PROVISIONER', 'RECLAIMPOLICY', 'VOLUMEBINDINGMODE', 'ALLOWVOLUMEEXPANSION', 'AGE'],
        rows: records.map((record) => [
          `${record.object.metadata.name}${isDefaultStorageClass(record.object.metadata.annotations) ? ' (default)' : ''}`,
          record.object.provisioner,
          record.object.reclaimPolicy,
          record.object.volumeBindingMode,
          String(record.object.allowVolumeExpansion),
          age(record.createdAt),
        ]),
      };
    }
    case 'VolumeSnapshotClass': {
      const records = pick(await catalog.list('VolumeSnapshotClass'));
      return {
        objects: records.map((record) => ({
          ...record.object,
          metadata: { ...record.object.metadata, creationTimestamp: record.createdAt },
        })),
        head: ['NAME', 'DRIVER', 'DELETIONPOLICY', 'AGE'],
        rows: records.map((record) => [
          `${record.object.metadata.name}${isDefaultSnapshotClass(record.object.metadata.annotations) ? ' (default)' : ''}`,
          record.object.driver,
          record.object.deletionPolicy,
          age(record.createdAt),
        ]),
      };
    }
    default: {
      const names = (await catalog.namespaces()).filter((ns) => name === undefined || ns === name);
      if (name === undefined && !names.includes('default' as NamespaceName))
        names.unshift('default' as NamespaceName);
      return {
        objects: names.map((ns) => ({
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: ns },
          status: { phase: 'Active' },
        })),
        head: ['NAME', 'STATUS'],
        rows: names.map((ns) => [ns, 'Active']),
      };
    }
  }
}

export function kubernetesCommands(): Command[] {
  const apply = new Command('apply')
    .description(
      'create or update Kubernetes objects from YAML on this host: PersistentVolumeClaim, VolumeSnapshot, StorageClass, VolumeSnapshotClass, Namespace',
    )
    .requiredOption('-f, --filename <files...>', 'YAML/JSON files or directories; - for stdin')
    .addOption(
      new Option('-n, --namespace <namespace>', 'namespace for objects that name none').default('default'),
    )
    .action(async (options: { filename: string[] }, command: Command) => {
      const { namespace, explicit } = namespaceOf(command);
      const documents = await readDocuments(options.filename);
      await withContext(command, async (context) =>
        report(await applyDocuments(context, documents, namespace, explicit)),
      );
    });

  const get = new Command('get')
    .description(
      'show objects as kubectl does: pvc, volumesnapshot, storageclass, volumesnapshotclass, namespace',
    )
    .argument(
      '<kind>',
      'pvc, volumesnapshot (vs), storageclass (sc), volumesnapshotclass (vsclass), namespace (ns)',
    )
    .argument('[name]', 'only this object')
    .addOption(new Option('-n, --namespace <namespace>', 'namespace').default('default'))
    .option('-A, --all-namespaces', 'every namespace');
  outputOptions(get).action(
    async (kindArg: string, name: string | undefined, _options: object, command: Command) => {
      const kind = kindOf(kindArg);
      if (name !== undefined) objectName(name, 'name');
      const format = outputFormat(command);
      const namespace = listNamespace(command);
      await withContext(command, async (context) => {
        const listing = await listKind(context, kind, namespace, name, format === 'wide');
        if (name !== undefined && listing.objects.length === 0) {
          throw new UserError(
            `${kind.toLowerCase()} ${name} not found${namespace && kind !== 'StorageClass' && kind !== 'VolumeSnapshotClass' && kind !== 'Namespace' ? ` in namespace ${namespace}` : ''}`,
          );
        }
        const value =
          name !== undefined
            ? listing.objects[0]
            : { apiVersion: 'v1', kind: 'List', items: listing.objects };
        if (writeStructured(format, value)) return;
        write(
          listing.rows.length === 0
            ? `No resources found${namespace ? ` in ${namespace} namespace` : ''}.`
            : table(listing.head, listing.rows),
        );
      });
    },
  );

  const del = new Command('delete')
    .description('delete the objects a YAML file names, or one object by kind and name')
    .argument('[kind]', 'pvc, volumesnapshot, storageclass, volumesnapshotclass, namespace')
    .argument('[names...]', 'objects to delete')
    .option('-f, --filename <files...>', 'YAML/JSON files or directories; - for stdin')
    .addOption(
      new Option('-n, --namespace <namespace>', 'namespace for objects that name none').default('default'),
    )
    .option('--ignore-not-found', 'treat objects that do not exist as deleted')
    .action(
      async (
        kindArg: string | undefined,
        names: string[],
        options: { filename?: string[]; ignoreNotFound?: boolean },
        command: Command,
      ) => {
        const { namespace, explicit } = namespaceOf(command);
        if (options.filename) {
          if (kindArg !== undefined)
            throw new UserError('give either -f files or a kind and names, not both', 2);
          const documents = await readDocuments(options.filename);
          await withContext(command, async (context) =>
            report(
              await deleteDocuments(context, documents, namespace, {
                explicitNamespace: explicit,
                ignoreNotFound: options.ignoreNotFound ?? false,
              }),
            ),
          );
          return;
        }
        if (kindArg === undefined || names.length === 0)
          throw new UserError(
            'say what to delete: -f <file>, or a kind and names (dolly delete pvc pvc-1)',
            2,
          );
        const kind = kindOf(kindArg);
        const checked = names.map((name) => objectName(name, 'name'));
        await withContext(command, async (context) => {
          const outcomes: Outcome[] = [];
          for (const name of checked) {
            const identity = { kind, name, namespace };
            try {
              await deleteObject(context, kind, name, namespace);
              outcomes.push({ identity, source: '', result: 'deleted' });
            } catch (error) {
              if (!(error instanceof UserError)) throw error;
              if (options.ignoreNotFound && / not found/.test(error.message)) continue;
              outcomes.push({ identity, source: '', error: error.message });
            }
          }
          report(outcomes);
        });
      },
    );

  return [apply, get, del];
}
