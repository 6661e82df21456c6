import { Command } from 'commander';
import { formatBytes } from '../../k8s/quantity.js';
import type { LocalContext } from '../../local/context.js';
import { measurePoolSpace } from '../../pool/accounting.js';
import { volumeViews } from '../../local/views.js';
import { json, write } from '../output.js';
import { withContext } from '../session.js';

export interface StatusReport {
  driver: { name: string; version: string; node: string; socket: string };
  pool: { root: string; backend: string; sizeBytes: number; usedBytes: number; availableBytes: number };
  volumes: { total: number; named: number; mounted: number };
  snapshots: { total: number; named: number };
  /** From the filesystem's extent maps: what the images hold, what they occupy, what sharing saves. */
  images: { allocatedBytes: number; physicalBytes: number; sharedBytes: number };
}

async function countAll(list: (token: string) => Promise<{ count: number; next: string }>): Promise<number> {
  let total = 0;
  let token = '';
  do {
    const page = await list(token);
    total += page.count;
    token = page.next;
  } while (token !== '');
  return total;
}

export async function collectStatus(context: LocalContext): Promise<StatusReport> {
  const { client } = context;
  const volumes = await countAll(async (token) => {
    const page = await client.listVolumes({ starting_token: token, max_entries: 0 });
    return { count: page.entries.length, next: page.next_token };
  }).catch((error: unknown) => {
    throw context.fail(error, 'listing volumes');
  });
  const snapshots = await countAll(async (token) => {
    const page = await client.listSnapshots({ starting_token: token, max_entries: 0 });
    return { count: page.entries.length, next: page.next_token };
  }).catch((error: unknown) => {
    throw context.fail(error, 'listing snapshots');
  });
  const views = await volumeViews(context, undefined);
  const namedSnapshots = (await context.catalog.list('VolumeSnapshot')).length;
  const space = await measurePoolSpace(context.poolRoot);
  return {
    driver: {
      name: context.driverName,
      version: context.driverVersion,
      node: context.nodeId,
      socket: context.socketPath,
    },
    pool: {
      root: space.root,
      backend: context.backend,
      sizeBytes: space.filesystem.sizeBytes,
      usedBytes: space.filesystem.usedBytes,
      availableBytes: space.filesystem.availableBytes,
    },
    volumes: {
      total: volumes,
      named: views.length,
      mounted: views.filter((view) => view.mounts.some((mount) => mount.state === 'mounted')).length,
    },
    snapshots: { total: snapshots, named: namedSnapshots },
    images: {
      allocatedBytes: space.totals.allocatedBytes,
      physicalBytes: space.totals.physicalBytes,
      sharedBytes: space.totals.savedBytes,
    },
  };
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

export function formatStatus(report: StatusReport): string {
  const { driver, pool, volumes, snapshots, images } = report;
  const others = volumes.total - volumes.named;
  const otherSnapshots = snapshots.total - snapshots.named;
  const lines = [
    ['driver', `${driver.name} ${driver.version} on node ${driver.node} (${driver.socket})`],
    [
      'pool',
      `${pool.root} (${pool.backend} backend): ${formatBytes(pool.sizeBytes)}, ${formatBytes(pool.usedBytes)} used, ${formatBytes(pool.availableBytes)} available`,
    ],
    [
      'volumes',
      `${plural(volumes.total, 'volume')} (${volumes.mounted} mounted), ${plural(snapshots.total, 'snapshot')}` +
        (others + otherSnapshots > 0
          ? `; ${others + otherSnapshots} made by other CSI clients (not named here)`
          : ''),
    ],
    [
      'sharing',
      `the images hold ${formatBytes(images.allocatedBytes)} and occupy ${formatBytes(images.physicalBytes)}: clones and snapshots share ${formatBytes(images.sharedBytes)}`,
    ],
  ];
  return lines.map(([label, text]) => `${(label ?? '').padEnd(8)} ${text ?? ''}`).join('\n');
}

export function statusCommand(): Command {
  return new Command('status')
    .description("the pool: size, used, space shared by clones (from the filesystem's extent maps), counts")
    .option('--json', 'JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withContext(command, async (context) => {
        const report = await collectStatus(context);
        write(options.json ? json(report) : formatStatus(report));
      });
    });
}
