import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/**
 * Every program the driver runs (src/host/*.ts, through `run` or `runLines`), with the Debian package that
 * ships it. The one list: the container image installs exactly these packages (Dockerfile),
 * CI installs them (.ci/run), `dolly serve` checks them at start, and a unit test keeps all of
 * those and the `run('<program>')` calls in src/host in agreement. Package names are Debian 12's
 * (bookworm, the image's base): there mount, umount and losetup come from "mount", not util-linux.
 * What the native addon does (src/host/kernel.ts: subvolume create/snapshot/delete, NOCOW,
 * freeze, thaw) needs no program.
 */
export const HOST_TOOLS = [
  { program: 'losetup', debianPackage: 'mount' },
  { program: 'mount', debianPackage: 'mount' },
  { program: 'umount', debianPackage: 'mount' },
  { program: 'blkid', debianPackage: 'util-linux' },
  { program: 'wipefs', debianPackage: 'util-linux' },
  { program: 'mkfs.ext4', debianPackage: 'e2fsprogs' },
  { program: 'e2fsck', debianPackage: 'e2fsprogs' },
  { program: 'resize2fs', debianPackage: 'e2fsprogs' },
  { program: 'dumpe2fs', debianPackage: 'e2fsprogs' },
  { program: 'mkfs.xfs', debianPackage: 'xfsprogs' },
  { program: 'xfs_growfs', debianPackage: 'xfsprogs' },
  { program: 'xfs_repair', debianPackage: 'xfsprogs' },
  { program: 'xfs_io', debianPackage: 'xfsprogs' },
  { program: 'btrfs', debianPackage: 'btrfs-progs' },
  { program: 'mkfs.btrfs', debianPackage: 'btrfs-progs' },
] as const;

export type HostTool = (typeof HOST_TOOLS)[number];

/** The Debian packages to install, sorted and without duplicates. */
export function debianPackages(): string[] {
  return [...new Set(HOST_TOOLS.map((tool) => tool.debianPackage))].sort();
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The host tools not found as executables on the given PATH (execFile searches the same). */
export async function missingHostTools(pathVariable: string | undefined): Promise<HostTool[]> {
  const dirs = (pathVariable ?? '').split(delimiter).filter((dir) => dir !== '');
  const missing: HostTool[] = [];
  for (const tool of HOST_TOOLS) {
    let found = false;
    for (const dir of dirs) {
      if (await isExecutable(join(dir, tool.program))) {
        found = true;
        break;
      }
    }
    if (!found) missing.push(tool);
  }
  return missing;
}

/** A message an operator can act on: what is missing, and which packages bring it. */
export function describeMissingTools(missing: readonly HostTool[]): string {
  const programs = missing.map((tool) => tool.program).join(', ');
  const packages = [...new Set(missing.map((tool) => tool.debianPackage))].sort().join(' ');
  return (
    `host tools missing from PATH: ${programs}; ` +
    `install the packages that provide them (on Debian/Ubuntu: apt-get install ${packages})`
  );
}
