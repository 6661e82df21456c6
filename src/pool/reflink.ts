import { constants } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { Code, DollyError, errnoCode } from '../errors.js';

const NO_REFLINK = new Set(['EOPNOTSUPP', 'ENOTSUP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ENOTTY']);

/**
 * Clones a file with one FICLONE: the new file shares every block with the source,
 * copy-on-write, so it costs no space and no time proportional to its size. FICLONE_FORCE
 * makes it fail rather than silently fall back to copying the data.
 */
export async function reflink(source: string, destination: string): Promise<void> {
  try {
    await copyFile(source, destination, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE);
  } catch (error) {
    const code = errnoCode(error);
    if (code !== undefined && NO_REFLINK.has(code)) {
      throw new DollyError(
        Code.FAILED_PRECONDITION,
        `the pool filesystem cannot reflink ${source} (${code}); Dolly needs XFS with reflink=1 or btrfs`,
        { cause: error },
      );
    }
    throw error;
  }
}
