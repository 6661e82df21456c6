import assert from 'node:assert/strict';
import { mkdir, open, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listLoops } from '../../src/host/loop.js';
import { FAULT_ENV } from '../../src/util/fault.js';
import type { VolumeCapability } from '../../src/generated/csi/v1/VolumeCapability.js';
import { Driver } from '../helpers/driver.js';
import { Sandbox, mountsUnder } from '../helpers/sandbox.js';
import { GiB, MiB, blockCapability, expectCode, mountCapability, status } from '../helpers/csi.js';
import { exists } from '../../src/util/stat-if-exists.js';
import { imageOf } from '../helpers/pool-paths.js';

/**
 * The node service against what a real host offers: symlinked paths, mount flags that mount(8)
 * acts on itself, stages that fail half-way, targets that already held files.
 */
describe('Node service: paths, mount flags, failed stages, pre-existing targets', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let outer: string;
  let pool: string;

  before(async () => {
    sandbox = await Sandbox.create('node-hard');
    // The pool sits one level down, so that a directory above it (an ancestor) is not the sandbox itself.
    outer = sandbox.path('outer');
    await mkdir(outer);
    pool = await sandbox.pool('outer/pool', 4 * GiB);
    driver = await Driver.start(sandbox, { pool });
  });
  after(async () => sandbox.cleanup());

  const loopsOfPool = async () =>
    (await listLoops()).filter((loop) => loop.backingFile.startsWith(`${pool}/`));
  const create = async (name: string, capability: VolumeCapability[], sizeBytes: number) => {
    const { volume } = await driver.client.createVolume({
      name,
      volume_capabilities: capability,
      capacity_range: { required_bytes: sizeBytes },
    });
    return volume!.volume_id;
  };
  const ext4 = mountCapability('ext4')[0]!;
  const withFlags = (flags: string[]): VolumeCapability => ({
    ...ext4,
    mount: { fs_type: 'ext4', mount_flags: flags },
  });

  it('a staging path and a target under a symlinked directory work, retried, and are cleaned up', async () => {
    const id = await create('through-link', [ext4], 64 * MiB);
    const real = sandbox.path('real');
    await mkdir(join(real, 'staging'), { recursive: true });
    await mkdir(join(real, 'pods'));
    const link = sandbox.path('link');
    await symlink(real, link);
    const staging = join(link, 'staging');
    const target = join(link, 'pods', 'target');

    for (let i = 0; i < 3; i += 1) {
      await driver.client.nodeStageVolume({
        volume_id: id,
        staging_target_path: staging,
        volume_capability: ext4,
      });
    }
    for (let i = 0; i < 3; i += 1) {
      await driver.client.nodePublishVolume({
        volume_id: id,
        staging_target_path: staging,
        target_path: target,
        volume_capability: ext4,
      });
    }
    await writeFile(join(target, 'hello'), 'through a link');
    assert.equal(await readFile(join(real, 'staging', 'hello'), 'utf8'), 'through a link');
    const stats = await driver.client.nodeGetVolumeStats({ volume_id: id, volume_path: target });
    assert.ok(stats.usage.length > 0);
    assert.equal(stats.volume_condition?.abnormal, false);
    await driver.client.nodeExpandVolume({ volume_id: id, volume_path: staging });
    await expectCode(driver.client.deleteVolume({ volume_id: id }), status.FAILED_PRECONDITION, /in use/);

    for (let i = 0; i < 2; i += 1) {
      await driver.client.nodeUnpublishVolume({ volume_id: id, target_path: target });
    }
    assert.equal(await exists(join(real, 'pods', 'target')), false, 'the target Dolly created is gone');
    for (let i = 0; i < 2; i += 1) {
      await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging });
    }
    assert.deepEqual(await mountsUnder(real), []);
    assert.deepEqual(await loopsOfPool(), []);
    await driver.client.deleteVolume({ volume_id: id });
  });

  it('paths that resolve into the pool or above it are INVALID_ARGUMENT and mount nothing', async () => {
    const id = await create('no-pool-paths', [ext4], 64 * MiB);
    const links = sandbox.path('links');
    await mkdir(links);
    const intoTmp = join(links, 'into-tmp');
    await symlink(join(pool, 'tmp'), intoTmp);
    const intoVolumes = join(links, 'into-volumes');
    await symlink(join(pool, 'volumes'), intoVolumes);
    const toOuter = join(links, 'to-outer');
    await symlink(outer, toOuter);
    const badStaging = [intoTmp, join(intoTmp, 'staging'), intoVolumes, toOuter, outer, `${toOuter}/pool`];
    for (const path of badStaging) {
      await expectCode(
        driver.client.nodeStageVolume({ volume_id: id, staging_target_path: path, volume_capability: ext4 }),
        status.INVALID_ARGUMENT,
        /pool/,
      );
    }
    assert.deepEqual(await loopsOfPool(), [], 'a refused stage attaches nothing');

    const staging = sandbox.path('staging-ok');
    await mkdir(staging);
    await driver.client.nodeStageVolume({
      volume_id: id,
      staging_target_path: staging,
      volume_capability: ext4,
    });
    for (const target of [join(intoVolumes, 'target'), join(intoTmp, 'target'), toOuter]) {
      await expectCode(
        driver.client.nodePublishVolume({
          volume_id: id,
          staging_target_path: staging,
          target_path: target,
          volume_capability: ext4,
        }),
        status.INVALID_ARGUMENT,
        /pool/,
      );
      await expectCode(
        driver.client.nodeUnpublishVolume({ volume_id: id, target_path: target }),
        status.INVALID_ARGUMENT,
      );
    }
    // A staging path through a link into the pool is refused for unstage too, and the real stage is untouched.
    await expectCode(
      driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: intoTmp }),
      status.INVALID_ARGUMENT,
    );
    assert.deepEqual(await mountsUnder(pool), [pool], 'nothing is mounted inside the pool');
    assert.deepEqual(await readdir(join(pool, 'tmp')), []);
    // The pool still works: a clone of the staged volume is made (and frozen/thawed) normally.
    const { volume } = await driver.client.createVolume({
      name: 'no-pool-paths-clone',
      volume_capabilities: [ext4],
      volume_content_source: { volume: { volume_id: id } },
    });
    assert.ok(volume);
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging });
    assert.deepEqual(await loopsOfPool(), []);
  });

  it('mount flags that mount(8) acts on itself are INVALID_ARGUMENT, naming the flag, before anything is done', async () => {
    const id = await create('flags', [ext4], 64 * MiB);
    const staging = sandbox.path('staging-flags');
    const refused = [
      'loop',
      'loop=/dev/loop0',
      'offset=4096',
      'sizelimit=1M',
      'encryption=aes',
      'bind',
      'rbind',
      'move',
      'remount',
      'shared',
      'rslave',
      'private',
      'unbindable',
      'X-mount.mkdir',
      'X-mount.subdir=lost+found',
      'x-systemd.automount',
      'helper=ext4',
      'uhelper=foo',
      'user',
      'users',
      'owner',
      'group',
      'nofail',
      'verity.roothash=00',
      'journal_path=/dev/null',
      'logdev=/dev/null',
    ];
    for (const flag of refused) {
      const error = await expectCode(
        driver.client.nodeStageVolume({
          volume_id: id,
          staging_target_path: staging,
          volume_capability: withFlags(['noatime', flag]),
        }),
        status.INVALID_ARGUMENT,
      );
      assert.ok(error.details.includes(JSON.stringify(flag)), `the error names ${flag}: ${error.details}`);
    }
    assert.deepEqual(await loopsOfPool(), [], 'nothing attached');
    assert.equal(await exists(staging), false, 'nothing created');
    assert.deepEqual(await mountsUnder(sandbox.path('staging-flags')), []);

    // An option the filesystem itself rejects is the caller's to fix, and is undone too.
    for (const flag of ['data=bogus', 'no_such_option']) {
      const error = await expectCode(
        driver.client.nodeStageVolume({
          volume_id: id,
          staging_target_path: staging,
          volume_capability: withFlags(['noatime', flag]),
        }),
        status.INVALID_ARGUMENT,
        /refused the mount flags/,
      );
      assert.ok(error.details.includes(JSON.stringify(flag)), `the error names ${flag}: ${error.details}`);
      assert.deepEqual(await loopsOfPool(), [], 'nothing attached');
      assert.deepEqual(await mountsUnder(staging), [], 'nothing mounted');
    }

    // Ordinary filesystem options work.
    await driver.client.nodeStageVolume({
      volume_id: id,
      staging_target_path: staging,
      volume_capability: withFlags(['noatime', 'data=ordered', 'nodev']),
    });
    const [mount] = await mountInfoAt(staging);
    assert.ok(mount?.includes('noatime') && mount.includes('nodev'), `mounted with the flags: ${mount}`);
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging });
    assert.deepEqual(await loopsOfPool(), []);
  });

  it('a stage that fails after attaching undoes it; an earlier attachment is kept; the retry works', async () => {
    const id = await create('undo', [ext4], 64 * MiB);
    const coMade = sandbox.path('staging-undo');
    await mkdir(coMade);
    const dollyMade = join(sandbox.path('undo-parent'), 'staging');
    await mkdir(sandbox.path('undo-parent'));
    for (const staging of [coMade, dollyMade]) {
      await assert.rejects(
        driver.client.nodeStageVolume({
          volume_id: id,
          staging_target_path: staging,
          volume_capability: withFlags(['data=bogus']),
        }),
      );
      assert.deepEqual(await loopsOfPool(), [], 'the loop device it attached is detached');
      assert.deepEqual(await mountsUnder(staging), []);
    }
    assert.equal(await exists(coMade), true, 'a staging directory the CO made is kept');
    assert.equal(await exists(dollyMade), false, 'a staging directory Dolly made is removed');

    await driver.client.nodeStageVolume({
      volume_id: id,
      staging_target_path: coMade,
      volume_capability: ext4,
    });
    await writeFile(join(coMade, 'kept'), 'kept');
    const [attached] = await loopsOfPool();
    assert.ok(attached);
    // A failing second stage elsewhere must not detach the device the first stage uses.
    await assert.rejects(
      driver.client.nodeStageVolume({
        volume_id: id,
        staging_target_path: dollyMade,
        volume_capability: withFlags(['data=bogus']),
      }),
    );
    assert.deepEqual(
      (await loopsOfPool()).map((loop) => loop.name),
      [attached.name],
    );
    assert.equal(await readFile(join(coMade, 'kept'), 'utf8'), 'kept');
    assert.equal(await exists(dollyMade), false);
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: coMade });
    assert.deepEqual(await loopsOfPool(), []);
  });

  it('an XFS volume too small for mkfs.xfs (made by an older Dolly) is FAILED_PRECONDITION, leaves nothing, and stages once expanded', async () => {
    // An old volume below the XFS minimum: made as ext4 (never staged), then recorded as xfs.
    const id = await create('old-small-xfs', [ext4], 64 * MiB);
    const metaPath = join(pool, 'volumes', id, 'meta.json');
    const meta = JSON.parse(await readFile(metaPath, 'utf8')) as Record<string, unknown>;
    await writeFile(metaPath, JSON.stringify({ ...meta, fsType: 'xfs' }));
    const xfs = mountCapability('xfs')[0]!;
    const staging = join(sandbox.path('small-xfs'), 'staging');
    await mkdir(sandbox.path('small-xfs'));
    await expectCode(
      driver.client.nodeStageVolume({ volume_id: id, staging_target_path: staging, volume_capability: xfs }),
      status.FAILED_PRECONDITION,
      /300 MiB.*ControllerExpandVolume/,
    );
    assert.deepEqual(await loopsOfPool(), []);
    assert.equal(await exists(staging), false);
    // Fixing the cause as the message says makes the same stage work.
    await driver.client.controllerExpandVolume({
      volume_id: id,
      capacity_range: { required_bytes: 300 * MiB },
    });
    await driver.client.nodeStageVolume({
      volume_id: id,
      staging_target_path: staging,
      volume_capability: xfs,
    });
    await writeFile(join(staging, 'xfs'), 'made at last');
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging });
    assert.deepEqual(await loopsOfPool(), []);
  });

  it('NodeUnpublishVolume of a target that already held files unmounts, keeps them and answers OK', async () => {
    const id = await create('prefilled', [ext4], 64 * MiB);
    const staging = sandbox.path('staging-prefilled');
    await mkdir(staging);
    await driver.client.nodeStageVolume({
      volume_id: id,
      staging_target_path: staging,
      volume_capability: ext4,
    });
    const target = sandbox.path('prefilled-target');
    await mkdir(target);
    await writeFile(join(target, 'theirs'), 'not Dolly’s');
    await driver.client.nodePublishVolume({
      volume_id: id,
      staging_target_path: staging,
      target_path: target,
      volume_capability: ext4,
    });
    await writeFile(join(target, 'ours'), 'in the volume');
    for (let i = 0; i < 3; i += 1) {
      await driver.client.nodeUnpublishVolume({ volume_id: id, target_path: target });
    }
    assert.deepEqual(await mountsUnder(target), []);
    assert.deepEqual(await readdir(target), ['theirs']);
    const logged = await driver.waitForLog(
      (line) => line.msg.startsWith('left the target in place') && line.targetPath === target,
    );
    assert.equal(logged.level, 30, 'logged at info');
    assert.equal(await readFile(join(staging, 'ours'), 'utf8'), 'in the volume');
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging });
  });

  it('a volume staged at one path is FAILED_PRECONDITION at a second, and stages there once unstaged', async () => {
    const id = await create('staged-twice', [ext4], 64 * MiB);
    const first = sandbox.path('staging-twice-1');
    const second = sandbox.path('staging-twice-2');
    await driver.client.nodeStageVolume({
      volume_id: id,
      staging_target_path: first,
      volume_capability: ext4,
    });
    await driver.client.controllerExpandVolume({
      volume_id: id,
      capacity_range: { required_bytes: 96 * MiB },
    });
    await expectCode(
      driver.client.nodeStageVolume({ volume_id: id, staging_target_path: second, volume_capability: ext4 }),
      status.FAILED_PRECONDITION,
      new RegExp(`already staged on this node \\(mounted at ${first}\\)`),
    );
    assert.deepEqual(await mountsUnder(second), []);
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: first });
    await driver.client.nodeStageVolume({
      volume_id: id,
      staging_target_path: second,
      volume_capability: ext4,
    });
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: second });
    assert.deepEqual(await loopsOfPool(), []);
  });

  it('a publish target given as the staging path: NodeStage is FAILED_PRECONDITION, NodeUnstage unmounts nothing', async () => {
    const id = await create('target-as-staging', [ext4], 64 * MiB);
    const staging = sandbox.path('staging-not-target');
    const target = sandbox.path('target-not-staging');
    await driver.client.nodeStageVolume({
      volume_id: id,
      staging_target_path: staging,
      volume_capability: ext4,
    });
    await driver.client.nodePublishVolume({
      volume_id: id,
      staging_target_path: staging,
      target_path: target,
      volume_capability: ext4,
      readonly: false,
    });
    await writeFile(join(target, 'kept.txt'), 'published data');
    const mountsBefore = await mountsUnder(sandbox.dir);

    // The target holds the volume's own device (a bind of the staging mount), but it is not where the volume is staged.
    await expectCode(
      driver.client.nodeStageVolume({ volume_id: id, staging_target_path: target, volume_capability: ext4 }),
      status.FAILED_PRECONDITION,
      new RegExp(`is staged at ${staging}; ${target} holds another mount of it`),
    );
    await expectCode(
      driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: target }),
      status.FAILED_PRECONDITION,
      new RegExp(`is staged at ${staging}, not at ${target} .*nothing was unmounted`),
    );
    assert.deepEqual(await mountsUnder(sandbox.dir), mountsBefore, 'both mounts are still there');
    assert.equal(await readFile(join(target, 'kept.txt'), 'utf8'), 'published data');

    // The real staging path still answers as before: a retried stage is OK, then the proper teardown works.
    await driver.client.nodeStageVolume({
      volume_id: id,
      staging_target_path: staging,
      volume_capability: ext4,
    });
    await driver.client.nodeUnpublishVolume({ volume_id: id, target_path: target });
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging });
    assert.deepEqual(await loopsOfPool(), []);
    await assert.rejects(
      stat(join(pool, 'staged', id)),
      { code: 'ENOENT' },
      'the record goes with the stage',
    );
  });

  it('read-only staging: "ro" with "rw" is INVALID_ARGUMENT; a retry that differs in read-only is ALREADY_EXISTS either way', async () => {
    const id = await create('ro-staging', [ext4], 64 * MiB);
    const staging = sandbox.path('staging-ro');
    await expectCode(
      driver.client.nodeStageVolume({
        volume_id: id,
        staging_target_path: staging,
        volume_capability: withFlags(['ro', 'rw']),
      }),
      status.INVALID_ARGUMENT,
      /contradict/,
    );
    assert.deepEqual(await loopsOfPool(), []);
    await driver.client.nodeStageVolume({
      volume_id: id,
      staging_target_path: staging,
      volume_capability: ext4,
    });
    await expectCode(
      driver.client.nodeStageVolume({
        volume_id: id,
        staging_target_path: staging,
        volume_capability: withFlags(['ro']),
      }),
      status.ALREADY_EXISTS,
      /read-write, not read-only/,
    );
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging });
    await driver.client.nodeStageVolume({
      volume_id: id,
      staging_target_path: staging,
      volume_capability: withFlags(['ro']),
    });
    await driver.client.nodeStageVolume({
      volume_id: id,
      staging_target_path: staging,
      volume_capability: withFlags(['ro']),
    });
    await expectCode(
      driver.client.nodeStageVolume({ volume_id: id, staging_target_path: staging, volume_capability: ext4 }),
      status.ALREADY_EXISTS,
      /read-only, not read-write/,
    );
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging });
  });

  it('NodeUnpublishVolume where the volume is not published removes nothing, not even an empty directory or file', async () => {
    const id = await create('never-published', [ext4], 64 * MiB);
    const emptyDir = sandbox.path('someone-elses-dir');
    const emptyFile = sandbox.path('someone-elses-file');
    await mkdir(emptyDir);
    await writeFile(emptyFile, '');
    for (const target of [emptyDir, emptyFile]) {
      await driver.client.nodeUnpublishVolume({ volume_id: id, target_path: target });
      assert.ok(await exists(target), `${target} is not Dolly's and stays`);
    }
  });

  it('a block target file that already held data is kept after NodeUnpublishVolume', async () => {
    const block = blockCapability()[0]!;
    const id = await create('prefilled-block', [block], 16 * MiB);
    const staging = sandbox.path('staging-prefilled-block');
    await mkdir(staging);
    await driver.client.nodeStageVolume({
      volume_id: id,
      staging_target_path: staging,
      volume_capability: block,
    });
    const target = sandbox.path('prefilled-block-target');
    const handle = await open(target, 'w');
    await handle.writeFile('data that was here');
    await handle.close();
    await driver.client.nodePublishVolume({
      volume_id: id,
      staging_target_path: staging,
      target_path: target,
      volume_capability: block,
    });
    await driver.client.nodeUnpublishVolume({ volume_id: id, target_path: target });
    await driver.client.nodeUnpublishVolume({ volume_id: id, target_path: target });
    assert.equal(await readFile(target, 'utf8'), 'data that was here');
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging });
    assert.deepEqual(await loopsOfPool(), []);
  });

  it('NodeGetVolumeStats and NodeExpandVolume: a volume_path that is not the volume is NOT_FOUND, an empty one INVALID_ARGUMENT', async () => {
    const id = await create('lookups', [ext4], 64 * MiB);
    for (const volume_path of [
      'some/path',
      'relative',
      sandbox.path('does-not-exist'),
      `${sandbox.dir}/./x/../y`,
    ]) {
      await expectCode(driver.client.nodeGetVolumeStats({ volume_id: id, volume_path }), status.NOT_FOUND);
      await expectCode(driver.client.nodeExpandVolume({ volume_id: id, volume_path }), status.NOT_FOUND);
    }
    // An existing directory where the volume is not mounted: nothing to expand there.
    await expectCode(driver.client.nodeExpandVolume({ volume_id: id, volume_path: outer }), status.NOT_FOUND);
    await expectCode(
      driver.client.nodeGetVolumeStats({ volume_id: id, volume_path: '' }),
      status.INVALID_ARGUMENT,
      /volume_path is required/,
    );
    await expectCode(
      driver.client.nodeExpandVolume({ volume_id: id, volume_path: '' }),
      status.INVALID_ARGUMENT,
      /volume_path is required/,
    );
  });
});

describe('Node service: a driver killed right after attaching (fault point stage:attached)', () => {
  let sandbox: Sandbox;
  let pool: string;

  before(async () => {
    sandbox = await Sandbox.create('node-crash');
    pool = await sandbox.pool('pool', 2 * GiB);
  });
  after(async () => sandbox.cleanup());

  it('the retry of the same stage after a restart succeeds, and everything can be cleaned up', async () => {
    const crashing = await Driver.start(sandbox, { pool, env: { [FAULT_ENV]: 'stage:attached' } });
    const capability = mountCapability('xfs')[0]!;
    const { volume } = await crashing.client.createVolume({
      name: 'crash-at-attach',
      volume_capabilities: [capability],
      capacity_range: { required_bytes: 300 * MiB },
    });
    const id = volume!.volume_id;
    const staging = sandbox.path('staging');
    await mkdir(staging);
    await assert.rejects(
      crashing.client.nodeStageVolume({
        volume_id: id,
        staging_target_path: staging,
        volume_capability: capability,
      }),
      'the driver dies at the fault point',
    );
    assert.equal(await crashing.stop(), null, 'killed, not exited');
    const image = imageOf(pool, 'volumes', id);
    assert.equal((await listLoops()).filter((loop) => loop.backingFile === image).length, 1, 'left attached');

    const driver = await Driver.start(sandbox, { pool });
    await driver.client.nodeStageVolume({
      volume_id: id,
      staging_target_path: staging,
      volume_capability: capability,
    });
    const target = sandbox.path('target');
    await driver.client.nodePublishVolume({
      volume_id: id,
      staging_target_path: staging,
      target_path: target,
      volume_capability: capability,
    });
    await writeFile(join(target, 'after-crash'), 'works');
    await driver.client.nodeUnpublishVolume({ volume_id: id, target_path: target });
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging });
    assert.deepEqual(
      (await listLoops()).filter((loop) => loop.backingFile === image),
      [],
    );
    await driver.client.deleteVolume({ volume_id: id });
  });
});

async function mountInfoAt(path: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').filter((line) => line.split(' ')[4] === path);
}
