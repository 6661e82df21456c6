import { run } from './exec.js';
import { checkAbsolutePath, kernelAddon, kernelFailure } from './kernel.js';

export type FilesystemType = 'ext4' | 'xfs';

/** The filesystem on a device, or undefined when it holds none (blkid exits 2). */
export async function probeFilesystem(device: string): Promise<string | undefined> {
  const { stdout, exitCode } = await run(
    'blkid',
    ['--probe', '--output', 'value', '--match-tag', 'TYPE', device],
    { timeoutMs: 60_000, allowExitCodes: [2] },
  );
  return exitCode === 0 ? stdout.trim() || undefined : undefined;
}

/** Makes a filesystem. Discarding is skipped: the image is sparse already. */
export async function makeFilesystem(device: string, fsType: FilesystemType): Promise<void> {
  if (fsType === 'ext4') {
    await run('mkfs.ext4', ['-q', '-F', '-E', 'nodiscard,lazy_itable_init=1,lazy_journal_init=1', device], {
      timeoutMs: 300_000,
    });
  } else {
    await run('mkfs.xfs', ['-q', '-K', device], { timeoutMs: 300_000 });
  }
}

/** Erases every filesystem signature blkid would find on a device (what a failed mkfs left). */
export async function wipeSignatures(device: string): Promise<void> {
  await run('wipefs', ['--all', '--quiet', device], { timeoutMs: 60_000 });
}

/**
 * Grows a mounted filesystem to the size of its device, online. Online ext4 growth needs
 * CAP_SYS_RESOURCE (a privileged container has it); without it resize2fs says "Permission denied".
 */
export async function growMountedFilesystem(
  device: string,
  mountPoint: string,
  fsType: FilesystemType,
): Promise<void> {
  if (fsType === 'ext4') await run('resize2fs', [device], { timeoutMs: 600_000 });
  else await run('xfs_growfs', [mountPoint], { timeoutMs: 600_000 });
}

/** The size of an ext4 filesystem, from its superblock. */
export async function readExt4Size(device: string): Promise<number> {
  const { stdout } = await run('dumpe2fs', ['-h', device], { timeoutMs: 60_000 });
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(stdout)?.[1]);
  const size = field('Block count') * field('Block size');
  if (!Number.isSafeInteger(size))
    throw new Error(`cannot read the size of the ext4 filesystem on ${device}`);
  return size;
}

/** Grows an unmounted ext4 filesystem to the size of its device (resize2fs wants a fresh check first). */
export async function growUnmountedExt4(device: string): Promise<void> {
  // e2fsck -p exits 1 when it fixed something harmless; that is still a usable filesystem.
  await run('e2fsck', ['-f', '-p', device], { timeoutMs: 600_000, allowExitCodes: [1] });
  await run('resize2fs', [device], { timeoutMs: 600_000 });
}

/**
 * Stops writes and makes the filesystem mounted at `mountPoint` consistent on disk until thaw
 * (FIFREEZE). A filesystem frozen already fails with EBUSY, one with write errors with EIO: the
 * DollyError's cause is the KernelError, whose errno code says which.
 */
export async function freezeFilesystem(mountPoint: string): Promise<void> {
  checkAbsolutePath(mountPoint);
  try {
    await kernelAddon().freeze(mountPoint);
  } catch (error) {
    throw kernelFailure(`cannot freeze the filesystem at ${mountPoint}`, error);
  }
}

/** Lets writes go on (FITHAW); a filesystem that is not frozen fails with EINVAL. */
export async function thawFilesystem(mountPoint: string): Promise<void> {
  checkAbsolutePath(mountPoint);
  try {
    await kernelAddon().thaw(mountPoint);
  } catch (error) {
    throw kernelFailure(`cannot thaw the filesystem at ${mountPoint}`, error);
  }
}

/**
 * Checks a filesystem (on a device or an image file) without changing it; true when clean. An
 * image file is the better target for XFS: xfs_repair reads 512-byte sectors, which a loop
 * device with direct I/O and 4 KiB logical blocks refuses. A frozen XFS keeps a log to replay,
 * so check a clone of one after it has been mounted once.
 */
export async function checkFilesystem(target: string, fsType: FilesystemType): Promise<boolean> {
  const [tool, args] =
    fsType === 'ext4' ? ['e2fsck', ['-f', '-n', target]] : ['xfs_repair', ['-n', '-f', target]];
  const { exitCode } = await run(tool, args, { timeoutMs: 600_000, allowExitCodes: [1, 2, 4, 8] });
  return exitCode === 0;
}
