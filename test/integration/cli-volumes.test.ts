import assert from 'node:assert/strict';
import { readFile, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Driver } from '../helpers/driver.js';
import { dolly, dollyJson, dollyOk } from '../helpers/cli.js';
import { POOL_FS, Sandbox } from '../helpers/sandbox.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

interface VolumeRow {
  namespace: string;
  name: string;
  phase: string;
  capacityBytes: number;
  usedBytes: number;
  volumeMode: string;
  fsType?: string;
  source?: { kind: string; name: string };
  mounts: { target: string; readOnly: boolean; state: string }[];
  volumeId: string;
}

interface TreeNodeJson {
  kind: string;
  name: string;
  made: string;
  deletedSource?: string;
  children: TreeNodeJson[];
}

/** The `dolly volume` and `dolly snapshot` commands, as a user runs them, against a real driver. */
describe('dolly volume / snapshot / status', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let socket: string;
  let pool: string;
  const run = (...args: string[]): Promise<string> => dollyOk(socket, args);
  const ls = async (): Promise<Map<string, VolumeRow>> =>
    new Map((await dollyJson<VolumeRow[]>(socket, ['volume', 'ls'])).map((row) => [row.name, row]));

  before(async () => {
    sandbox = await Sandbox.create('cli-volumes');
    pool = await sandbox.pool('pool', 4 * GiB);
    driver = await Driver.start(sandbox, { pool });
    socket = driver.socketPath;
  });
  after(async () => {
    // Whatever a failed test left mounted goes through the driver first, then the sandbox.
    await dolly(socket, ['volume', 'umount', 'pg-data']);
    for (const name of ['pg-test', 'pg-restored', 'raw', 'big'])
      await dolly(socket, ['volume', 'umount', name]);
    await sandbox.cleanup();
  });

  it('create: a volume by name, in Kubernetes quantities; shown by ls without its ID', async () => {
    const out = await run('volume', 'create', 'pg-data', '--size', '64Mi');
    assert.match(out, /volume pg-data created: 64Mi/);
    const row = (await ls()).get('pg-data');
    assert.equal(row?.capacityBytes, 64 * MiB);
    assert.equal(row?.volumeMode, 'Filesystem');
    assert.equal(row?.fsType, 'ext4');
    assert.equal(row?.phase, 'Bound');
    const table = await run('volume', 'ls');
    assert.match(table, /^NAME\s+SIZE\s+USED\s+MODE\s+FS\s+SOURCE\s+MOUNTED AT$/m);
    assert.match(table, /^pg-data\s+64Mi\s+\S+( \S+)?\s+Filesystem\s+ext4\s+-\s+-$/m);
    assert.doesNotMatch(table, /vol-/, 'IDs only with -o wide or --json');
    assert.match(await run('volume', 'ls', '-o', 'wide'), new RegExp(row?.volumeId ?? 'missing'));
  });

  it('create: a duplicate name, a bad size or a bad name is one line naming the fix, and changes nothing', async () => {
    const duplicate = await dolly(socket, ['volume', 'create', 'pg-data', '--size', '128Mi']);
    assert.equal(duplicate.code, 1);
    assert.equal(
      duplicate.stderr,
      'dolly: persistentvolumeclaim pg-data already exists; choose another name\n',
    );
    assert.equal((await ls()).get('pg-data')?.capacityBytes, 64 * MiB);

    const badSize = await dolly(socket, ['volume', 'create', 'x', '--size', '5Gx']);
    assert.equal(badSize.code, 2);
    assert.match(
      badSize.stderr,
      /--size: "5Gx" is not a quantity; write a number with an optional unit: 5Gi/,
    );
    assert.doesNotMatch(badSize.stderr, /at .*\.js/, 'no stack trace');
    assert.equal((await dolly(socket, ['volume', 'create', 'x', '--size', '0'])).code, 2);
    const badName = await dolly(socket, ['volume', 'create', 'Bad_Name', '--size', '1Gi']);
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /not a valid name: lower-case letters/);
    assert.equal((await ls()).size, 1);
  });

  it('mount: stage + publish at a directory; the data is there through the filesystem; twice is refused', async () => {
    const dir = sandbox.path('mnt-pg');
    assert.match(await run('volume', 'mount', 'pg-data', dir), /mounted at/);
    await writeFile(join(dir, 'table.dat'), 'rows before the clone\n');
    const row = (await ls()).get('pg-data');
    assert.deepEqual(row?.mounts, [{ target: dir, readOnly: false, state: 'mounted' }]);
    assert.match(await run('volume', 'ls'), new RegExp(`pg-data .* ${dir}$`, 'm'));

    const again = await dolly(socket, ['volume', 'mount', 'pg-data', dir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /pg-data is already mounted at/);
    const missing = await dolly(socket, ['volume', 'mount', 'no-such', sandbox.path('mnt-x')]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'dolly: persistentvolumeclaim no-such not found\n');
  });

  it('clone: instant, independent, same content; never smaller than its source', async () => {
    const out = await run('volume', 'clone', 'pg-data', 'pg-test');
    assert.match(out, /volume pg-test cloned from pg-data in [\d.]+ ms: 64Mi/);
    const dir = sandbox.path('mnt-test');
    await run('volume', 'mount', 'pg-test', dir);
    assert.equal(await readFile(join(dir, 'table.dat'), 'utf8'), 'rows before the clone\n');
    await writeFile(join(dir, 'table.dat'), 'changed in the clone\n');
    assert.equal(await readFile(sandbox.path('mnt-pg', 'table.dat'), 'utf8'), 'rows before the clone\n');
    const other = await dolly(socket, ['volume', 'mount', 'pg-data', dir]);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /pg-test is mounted at .*; unmount it first or choose another directory/);

    const smaller = await dolly(socket, ['volume', 'clone', 'pg-data', 'tiny', '--size', '32Mi']);
    assert.equal(smaller.code, 1);
    assert.match(
      smaller.stderr,
      /smaller than the source's 64Mi: a clone must be at least as large as its source; ask for 64Mi or more/,
    );
    assert.equal((await ls()).has('tiny'), false);
    const unknown = await dolly(socket, ['volume', 'clone', 'nope', 'x']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /persistentvolumeclaim nope not found/);
  });

  it('snapshot and restore: the restore holds the data of the snapshot, not later writes', async () => {
    assert.match(
      await run('snapshot', 'create', 'pg-data', 'nightly'),
      /snapshot nightly of volume pg-data taken in/,
    );
    await writeFile(sandbox.path('mnt-pg', 'table.dat'), 'rows after the snapshot\n');
    assert.match(await run('volume', 'restore', 'nightly', 'pg-restored'), /restored from snapshot nightly/);
    const dir = sandbox.path('mnt-restored');
    await run('volume', 'mount', 'pg-restored', dir, '--read-only');
    assert.equal(await readFile(join(dir, 'table.dat'), 'utf8'), 'rows before the clone\n');
    await assert.rejects(writeFile(join(dir, 'x'), 'x'), /EROFS/);
    const snapshots = await dollyJson<
      { name: string; readyToUse: boolean; sourceClaim: string; restoreBytes: number }[]
    >(socket, ['snapshot', 'ls']);
    assert.deepEqual(
      snapshots.map((s) => [s.name, s.readyToUse, s.sourceClaim, s.restoreBytes]),
      [['nightly', true, 'pg-data', 64 * MiB]],
    );
    const duplicate = await dolly(socket, ['snapshot', 'create', 'pg-data', 'nightly']);
    assert.equal(duplicate.code, 1);
    assert.match(duplicate.stderr, /snapshot nightly already exists/);
  });

  it('tree: clones under their source, snapshots under their volume, restores under their snapshot', async () => {
    const roots = await dollyJson<TreeNodeJson[]>(socket, ['volume', 'tree']);
    const shape = (node: TreeNodeJson): unknown => [node.name, node.made, node.children.map(shape)];
    assert.deepEqual(roots.map(shape), [
      [
        'pg-data',
        'new',
        [
          ['pg-test', 'clone', []],
          ['nightly', 'snapshot', [['pg-restored', 'restore', []]]],
        ],
      ],
    ]);
    const text = await run('volume', 'tree');
    assert.equal(
      text,
      [
        'pg-data  64Mi  (volume)',
        '├── pg-test  64Mi  (clone)',
        '└── nightly  64Mi  (snapshot)',
        '    └── pg-restored  64Mi  (restore)',
        '',
      ].join('\n'),
    );
  });

  it('expand: an unmounted ext4 volume grows, and its filesystem with it at the next mount; never shrinks', async () => {
    await run('volume', 'create', 'big', '--size', '64Mi');
    assert.match(await run('volume', 'expand', 'big', '256Mi'), /volume big is 256Mi/);
    const dir = sandbox.path('mnt-big');
    await run('volume', 'mount', 'big', dir);
    const stats = await statfs(dir);
    assert.ok(stats.blocks * stats.bsize > 200 * MiB, `filesystem is ${stats.blocks * stats.bsize} bytes`);
    const shrink = await dolly(socket, ['volume', 'expand', 'big', '128Mi']);
    assert.equal(shrink.code, 1);
    assert.match(shrink.stderr, /volumes do not shrink, so ask for 256Mi or more/);
    await run('volume', 'umount', dir);
  });

  it('expand: a mounted XFS volume grows online', async () => {
    await run('volume', 'create', 'xfs-vol', '--size', '300Mi', '--fs', 'xfs');
    const dir = sandbox.path('mnt-xfs');
    await run('volume', 'mount', 'xfs-vol', dir);
    const before = await statfs(dir);
    await run('volume', 'expand', 'xfs-vol', '600Mi');
    const afterGrowth = await statfs(dir);
    assert.ok(afterGrowth.blocks * afterGrowth.bsize > before.blocks * before.bsize + 200 * MiB);
    assert.equal((await ls()).get('xfs-vol')?.fsType, 'xfs');
    await run('volume', 'umount', 'xfs-vol');
    await run('volume', 'rm', 'xfs-vol');
  });

  it('a block volume is published as a device at a path', async () => {
    await run('volume', 'create', 'raw', '--size', '16Mi', '--block');
    const device = sandbox.path('raw-device');
    await run('volume', 'mount', 'raw', device);
    const row = (await ls()).get('raw');
    assert.equal(row?.volumeMode, 'Block');
    assert.equal(row?.fsType, undefined);
    const { stat } = await import('node:fs/promises');
    assert.ok((await stat(device)).isBlockDevice());
    const fsForBlock = await dolly(socket, [
      'volume',
      'create',
      'raw2',
      '--size',
      '16Mi',
      '--block',
      '--fs',
      'xfs',
    ]);
    assert.equal(fsForBlock.code, 2);
    await run('volume', 'umount', device);
    await run('volume', 'rm', 'raw');
  });

  it('status: counts, and the space clones and snapshots share, from the extent maps', async () => {
    const report = await dollyJson<{
      volumes: { total: number; named: number; mounted: number };
      snapshots: { total: number };
      images: { allocatedBytes: number; physicalBytes: number; sharedBytes: number };
      pool: { sizeBytes: number; backend: string };
    }>(socket, ['status']);
    assert.equal(report.pool.backend, POOL_FS === 'btrfs' ? 'btrfs' : 'reflink');
    assert.deepEqual(report.volumes, { total: 4, named: 4, mounted: 3 });
    assert.equal(report.snapshots.total, 1);
    assert.ok(report.images.sharedBytes > 0, 'clones share blocks with their source');
    assert.equal(report.images.allocatedBytes - report.images.physicalBytes, report.images.sharedBytes);
    const text = await run('status');
    assert.match(text, /^sharing {2}the images hold .* clones and snapshots share /m);
    assert.match(text, new RegExp(`^pool {5}\\S+ \\(${report.pool.backend} backend\\): `, 'm'));
  });

  it('rm: refused while mounted; after umount the volume goes and its clone keeps its data', async () => {
    const mounted = await dolly(socket, ['volume', 'rm', 'pg-data']);
    assert.equal(mounted.code, 1);
    assert.match(mounted.stderr, /pg-data is mounted at .*: unmount it first \(dolly volume umount /);
    assert.match(await run('volume', 'umount', sandbox.path('mnt-pg')), /unmounted from/);
    const notMounted = await dolly(socket, ['volume', 'umount', sandbox.path('mnt-pg')]);
    assert.equal(notMounted.code, 1);
    assert.match(notMounted.stderr, /nothing dolly mounted is at/);
    await run('volume', 'rm', 'pg-data');
    await run('snapshot', 'rm', 'nightly');
    assert.equal(await readFile(sandbox.path('mnt-test', 'table.dat'), 'utf8'), 'changed in the clone\n');
    const roots = await dollyJson<TreeNodeJson[]>(socket, ['volume', 'tree']);
    const test = roots.find((node) => node.name === 'pg-test');
    assert.equal(test?.deletedSource, 'pvc/pg-data');
    const gone = await dolly(socket, ['volume', 'rm', 'pg-data']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /persistentvolumeclaim pg-data not found/);
  });

  it('a mount point inside the pool, or reached through a symlink into it, is refused and nothing is mounted', async () => {
    await run('volume', 'create', 'hostile', '--size', '16Mi');
    const inside = await dolly(socket, ['volume', 'mount', 'hostile', join(pool, 'volumes')]);
    assert.equal(inside.code, 1);
    assert.match(inside.stderr, /is inside the pool/);
    const { symlink } = await import('node:fs/promises');
    await symlink(pool, sandbox.path('to-pool'));
    const viaLink = await dolly(socket, ['volume', 'mount', 'hostile', sandbox.path('to-pool', 'catalog')]);
    assert.equal(viaLink.code, 1);
    assert.match(viaLink.stderr, /inside the pool/);
    assert.deepEqual((await ls()).get('hostile')?.mounts, []);
    await run('volume', 'rm', 'hostile');
  });

  it('no driver at the socket: one line saying how to start one', async () => {
    const result = await dolly(sandbox.path('nothing.sock'), ['volume', 'ls']);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^dolly: no Dolly driver answers at .*nothing\.sock: start one with `sudo dolly serve`, or point --socket at the one you run\n$/,
    );
  });
});
