import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Code, errnoCode } from '../../src/errors.js';
import type { DollyError } from '../../src/errors.js';
import {
  commitTransaction,
  createSubvolume,
  deleteSubvolume,
  markNoCow,
  snapshotSubvolume,
} from '../../src/host/btrfs.js';
import { freezeFilesystem, thawFilesystem } from '../../src/host/filesystem.js';
import { checkEntryName, isKernelError, kernelAddon, syncfs } from '../../src/host/kernel.js';
import type { KernelAddon } from '../../src/host/kernel.js';
import { isCode } from '../unit/assert-code.js';
import { MiB, hashFile, writePattern } from '../helpers/csi.js';
import { Sandbox, sh } from '../helpers/sandbox.js';

/** The inode number of a btrfs subvolume's root directory. */
const SUBVOLUME_ROOT_INODE = 256;

/** A rejection of the addon: a KernelError with this errno code and syscall (and path, when given). */
function kernelError(code: string, syscall: string, path?: string): (error: unknown) => true {
  return (error: unknown): true => {
    assert.ok(isKernelError(error), `expected a KernelError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.syscall, syscall, error.message);
    assert.ok(error.errno < 0, 'errno is negative, as in Node');
    if (path !== undefined) assert.equal(error.path, path);
    assert.match(error.message, new RegExp(`^${code}: `));
    return true;
  };
}

/** A DollyError whose cause is the kernel's error with this errno code. */
function causedBy(code: Code, errno: string, message?: RegExp): (error: unknown) => true {
  return (error: unknown): true => {
    isCode(code, message)(error);
    assert.equal(errnoCode((error as DollyError).cause), errno);
    return true;
  };
}

async function openFds(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

/**
 * The native addon (src/native/kernel.c) against the real kernel: loop-mounted btrfs, ext4 and
 * XFS filesystems in the sandbox. Each call does what it says, fails with the errno the kernel
 * gives (Node's fs error shape), refuses bad names before any system call, and leaks no fd.
 */
describe('native addon: btrfs subvolumes, NOCOW, freeze, syncfs', () => {
  let sandbox: Sandbox;
  let btrfs: string;
  let ext4: string;
  let xfs: string;
  let addon: KernelAddon;

  before(async () => {
    sandbox = await Sandbox.create('kernel');
    btrfs = await sandbox.btrfsPool('btrfs', 1024 * MiB);
    ext4 = await sandbox.ext4Dir('ext4', 64 * MiB);
    xfs = await sandbox.xfsPool('xfs', 320 * MiB);
    // Whatever a failed test leaves frozen is thawed before the sandbox unmounts it.
    sandbox.onCleanup(async () => {
      for (const point of [btrfs, ext4, xfs])
        await sh('fsfreeze', ['--unfreeze', point]).catch(() => undefined);
    });
    addon = kernelAddon();
  });
  after(async () => sandbox.cleanup());

  it('creates a subvolume, marks it NOCOW, snapshots it (sharing its content) and deletes them', async () => {
    const volume = join(btrfs, 'volume');
    await createSubvolume(volume);
    assert.equal((await stat(volume)).ino, SUBVOLUME_ROOT_INODE, 'a subvolume root');
    await markNoCow(volume);
    const [flags] = (await sh('lsattr', ['-d', volume])).split(' ');
    assert.match(flags ?? '', /C/, 'lsattr shows the NOCOW flag');

    // A file made after the mark inherits it; the snapshot holds the same bytes.
    const image = join(volume, 'disk.img');
    await writeFile(image, '');
    await writePattern(image, 0, 8 * MiB, 'kernel-snapshot');
    assert.match((await sh('lsattr', [image])).split(' ')[0] ?? '', /C/);
    const hash = await hashFile(image);

    const snapshot = join(btrfs, 'snapshot');
    await snapshotSubvolume(volume, snapshot);
    assert.equal((await stat(snapshot)).ino, SUBVOLUME_ROOT_INODE, 'the snapshot is a subvolume');
    assert.equal(await hashFile(join(snapshot, 'disk.img')), hash);
    const readOnly = join(btrfs, 'read-only');
    await snapshotSubvolume(volume, readOnly, { readOnly: true });
    await assert.rejects(writeFile(join(readOnly, 'new'), 'x'), { code: 'EROFS' });
    // Independent from the first moment: writing the source leaves the snapshot as it was.
    await writePattern(image, 0, MiB, 'after');
    assert.equal(await hashFile(join(snapshot, 'disk.img')), hash);
    assert.notEqual(await hashFile(image), hash);

    const listed = await sh('btrfs', ['subvolume', 'list', '-o', btrfs]);
    for (const name of ['volume', 'snapshot', 'read-only'])
      assert.match(listed, new RegExp(` path ${name}\\n`));
    await commitTransaction(btrfs);
    for (const dir of [snapshot, readOnly, volume]) await deleteSubvolume(dir);
    await assert.rejects(stat(volume), { code: 'ENOENT' });
    await assert.rejects(stat(snapshot), { code: 'ENOENT' });
    assert.doesNotMatch(await sh('btrfs', ['subvolume', 'list', '-o', btrfs]), / path (volume|snapshot)\n/);
  });

  it('fails with the kernel errno, as Node fs errors do: missing paths, existing targets, plain directories, other filesystems', async () => {
    const missing = join(btrfs, 'missing');
    await assert.rejects(addon.subvolumeCreate(missing, 'x'), kernelError('ENOENT', 'open', missing));
    await assert.rejects(
      addon.subvolumeSnapshot(missing, btrfs, 'x', false),
      kernelError('ENOENT', 'open', missing),
    );
    await assert.rejects(
      addon.subvolumeDelete(btrfs, 'missing'),
      kernelError('ENOENT', 'BTRFS_IOC_SNAP_DESTROY'),
    );
    await assert.rejects(addon.setNoCow(missing), kernelError('ENOENT', 'open', missing));
    await assert.rejects(addon.btrfsSync(missing), kernelError('ENOENT', 'open', missing));
    await assert.rejects(addon.syncfs(missing), kernelError('ENOENT', 'open', missing));
    await assert.rejects(addon.freeze(missing), kernelError('ENOENT', 'open', missing));

    await createSubvolume(join(btrfs, 'taken'));
    await assert.rejects(
      addon.subvolumeCreate(btrfs, 'taken'),
      kernelError('EEXIST', 'BTRFS_IOC_SUBVOL_CREATE', join(btrfs, 'taken')),
    );
    await assert.rejects(
      addon.subvolumeSnapshot(join(btrfs, 'taken'), btrfs, 'taken', false),
      kernelError('EEXIST', 'BTRFS_IOC_SNAP_CREATE_V2', join(btrfs, 'taken')),
    );

    // A plain directory is not a subvolume: neither snapshotted nor deleted as one.
    const plain = join(btrfs, 'plain');
    await mkdir(plain);
    await writeFile(join(plain, 'file'), 'kept');
    await assert.rejects(
      addon.subvolumeSnapshot(plain, btrfs, 'of-plain', false),
      kernelError('EINVAL', 'BTRFS_IOC_SNAP_CREATE_V2', plain),
    );
    await assert.rejects(
      addon.subvolumeDelete(btrfs, 'plain'),
      kernelError('EINVAL', 'BTRFS_IOC_SNAP_DESTROY'),
    );
    await assert.rejects(stat(join(btrfs, 'of-plain')), { code: 'ENOENT' });
    assert.equal(await readFile(join(plain, 'file'), 'utf8'), 'kept');

    // A symlink where a directory is expected is not followed; a file is not a directory.
    await sh('ln', ['-s', join(btrfs, 'taken'), join(btrfs, 'link')]);
    await assert.rejects(addon.subvolumeCreate(join(btrfs, 'link'), 'x'), kernelError('ENOTDIR', 'open'));
    await assert.rejects(addon.setNoCow(join(plain, 'file')), kernelError('ENOTDIR', 'open'));

    // Not btrfs: the btrfs ioctls are unknown to XFS.
    await assert.rejects(addon.subvolumeCreate(xfs, 'x'), kernelError('ENOTTY', 'BTRFS_IOC_SUBVOL_CREATE'));
    await assert.rejects(addon.btrfsSync(xfs), kernelError('ENOTTY', 'BTRFS_IOC_SYNC', xfs));

    // The typed wrappers: a DollyError saying what Dolly was doing, the KernelError as its cause.
    await assert.rejects(
      snapshotSubvolume(plain, join(btrfs, 'of-plain')),
      causedBy(
        Code.INTERNAL,
        'EINVAL',
        /cannot snapshot the btrfs subvolume .*plain \(is it a subvolume\?\)/,
      ),
    );
    await assert.rejects(
      createSubvolume(join(btrfs, 'taken')),
      causedBy(Code.INTERNAL, 'EEXIST', /cannot create the btrfs subvolume .*taken: EEXIST: File exists/),
    );
    await assert.rejects(deleteSubvolume(join(btrfs, 'missing')), causedBy(Code.INTERNAL, 'ENOENT'));
    await assert.rejects(commitTransaction(xfs), causedBy(Code.INTERNAL, 'ENOTTY'));
  });

  it('refuses bad names and paths before any system call', async () => {
    // The directory does not exist: a system call would answer ENOENT, not these errors.
    const nowhere = join(btrfs, 'nowhere');
    const long = 'x'.repeat(256);
    for (const name of ['a/b', '/', '.', '..', '', 'a\0b', long]) {
      assert.throws(() => addon.subvolumeCreate(nowhere, name), { code: 'ERR_INVALID_ARG_VALUE' }, name);
      assert.throws(() => addon.subvolumeDelete(nowhere, name), { code: 'ERR_INVALID_ARG_VALUE' }, name);
      assert.throws(() => addon.subvolumeSnapshot(nowhere, nowhere, name, false), {
        code: 'ERR_INVALID_ARG_VALUE',
      });
      assert.throws(() => checkEntryName(name), isCode(Code.INVALID_ARGUMENT));
    }
    // 255 bytes is allowed: the kernel is asked, and answers that the directory is missing.
    await assert.rejects(addon.subvolumeCreate(nowhere, 'x'.repeat(255)), { code: 'ENOENT' });
    // A name of 255 bytes is the limit in bytes, not characters.
    assert.throws(() => addon.subvolumeCreate(nowhere, 'é'.repeat(128)), { code: 'ERR_INVALID_ARG_VALUE' });
    await assert.rejects(
      createSubvolume(join(nowhere, 'é'.repeat(128))),
      isCode(Code.INVALID_ARGUMENT, /255 bytes/),
    );
    // The typed wrappers take the name from the path's last component.
    await assert.rejects(createSubvolume(`${nowhere}/..`), isCode(Code.INVALID_ARGUMENT, /'\.\.'/));
    await assert.rejects(deleteSubvolume(`${btrfs}/.`), isCode(Code.INVALID_ARGUMENT));
    await assert.rejects(snapshotSubvolume(join(btrfs, 'taken'), '/'), isCode(Code.INVALID_ARGUMENT));
    await assert.rejects(createSubvolume('relative'), isCode(Code.INVALID_ARGUMENT, /not an absolute path/));

    for (const path of ['relative/dir', '', 'a\0b']) {
      assert.throws(() => addon.syncfs(path), { code: 'ERR_INVALID_ARG_VALUE' });
      assert.throws(() => addon.freeze(path), { code: 'ERR_INVALID_ARG_VALUE' });
      assert.throws(() => addon.subvolumeCreate(path, 'x'), { code: 'ERR_INVALID_ARG_VALUE' });
      await assert.rejects(freezeFilesystem(path), isCode(Code.INVALID_ARGUMENT));
      await assert.rejects(syncfs(path), isCode(Code.INVALID_ARGUMENT));
    }
    assert.throws(() => addon.syncfs(`/${'x'.repeat(5000)}`), { code: 'ERR_INVALID_ARG_VALUE' });
    const untyped = addon as unknown as Record<string, (...args: unknown[]) => unknown>;
    assert.throws(() => untyped['freeze']?.(42), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => untyped['subvolumeCreate']?.(btrfs), { code: 'ERR_MISSING_ARGS' });
    assert.throws(() => untyped['subvolumeSnapshot']?.(btrfs, btrfs, 'x', 'yes'), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
    await assert.rejects(stat(join(btrfs, 'x')), { code: 'ENOENT' }, 'nothing was made');
  });

  it('freeze blocks writes until the thaw; a frozen filesystem is EBUSY, a thawed one EINVAL', async () => {
    await freezeFilesystem(ext4);
    let thawed = false;
    try {
      // A writer in another process: it says when it starts, then its write blocks.
      const writer = spawn(
        process.execPath,
        [
          '-e',
          "const fs=require('fs');process.stdout.write('started\\n');fs.writeFileSync(process.argv[1],'written while frozen');",
          join(ext4, 'during-freeze'),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const exit = once(writer, 'exit');
      await once(writer.stdout, 'data');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(writer.exitCode, null, 'the write waits while the filesystem is frozen');

      await assert.rejects(addon.freeze(ext4), kernelError('EBUSY', 'FIFREEZE', ext4));
      await assert.rejects(
        freezeFilesystem(ext4),
        causedBy(Code.INTERNAL, 'EBUSY', /cannot freeze the filesystem at/),
      );

      await thawFilesystem(ext4);
      thawed = true;
      const [code] = (await exit) as [number | null];
      assert.equal(code, 0);
      assert.equal(await readFile(join(ext4, 'during-freeze'), 'utf8'), 'written while frozen');
    } finally {
      if (!thawed) await thawFilesystem(ext4);
    }
    await assert.rejects(addon.thaw(ext4), kernelError('EINVAL', 'FITHAW', ext4));
    await assert.rejects(
      thawFilesystem(ext4),
      causedBy(Code.INTERNAL, 'EINVAL', /cannot thaw the filesystem at/),
    );
  });

  it('syncfs writes the dirty data of the filesystem to its device', async () => {
    // Unwritten data is only in the page cache; after syncfs it is in the filesystem's image.
    // Another test's `sync` may write it first: then try again with new data, a few times.
    let before = true;
    let after = false;
    for (let attempt = 0; attempt < 5 && before; attempt += 1) {
      const marker = `dolly-syncfs-marker-${attempt}-${process.pid}-${Date.now()}`.repeat(64);
      await writeFile(join(ext4, `syncfs-${attempt}`), marker);
      const inImage = async () => (await readFile(sandbox.path('ext4.img'))).includes(marker);
      before = await inImage();
      await syncfs(ext4);
      after = await inImage();
    }
    assert.equal(before, false, 'the data was not on the device before syncfs (in five attempts)');
    assert.equal(after, true, 'syncfs wrote it');
  });

  it('leaks no file descriptor in 1000 rounds of successful and failing calls', async () => {
    const volume = join(btrfs, 'fd-source');
    await createSubvolume(volume);
    const plain = join(btrfs, 'fd-plain');
    await mkdir(plain);
    const before = await openFds();
    const settle = (promise: Promise<void>) =>
      promise.then(
        () => 'ok',
        (error: unknown) => errnoCode(error),
      );
    for (let round = 0; round < 1000; round += 1) {
      const results = await Promise.all([
        settle(addon.syncfs(btrfs)),
        settle(addon.setNoCow(volume)),
        settle(addon.subvolumeSnapshot(volume, join(btrfs, 'missing-dir'), 'x', false)),
        settle(addon.subvolumeSnapshot(plain, btrfs, 'x', false)),
        settle(addon.subvolumeCreate(btrfs, 'fd-source')),
        settle(addon.subvolumeDelete(btrfs, 'fd-plain')),
        settle(addon.thaw(ext4)),
      ]);
      if (round === 0)
        assert.deepEqual(results, ['ok', 'ok', 'ENOENT', 'EINVAL', 'EEXIST', 'EINVAL', 'EINVAL']);
    }
    for (let round = 0; round < 20; round += 1) {
      await addon.subvolumeSnapshot(volume, btrfs, `fd-copy-${round}`, false);
      await addon.subvolumeDelete(btrfs, `fd-copy-${round}`);
      await addon.freeze(ext4);
      await addon.thaw(ext4);
    }
    assert.equal(await openFds(), before);
  });
});
