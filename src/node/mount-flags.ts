import { invalidArgument } from '../errors.js';
import { quote } from '../pool/ids.js';

const BIND = 'mount(8) would make a bind mount of it';
const PROPAGATION = 'mount(8) would change mount propagation instead of mounting';
const LOOP = "mount(8) would set up a second loop device on the volume's own";
const WHO = 'it tells mount(8) who may mount, which means nothing for a volume the driver mounts';
const DEVICE = "it puts another block device of the host under the volume's filesystem";

/**
 * Options that mount(8) (libmount: util-linux optmap.c and the mount(8) manual) acts on itself
 * instead of passing them to the filesystem, and filesystem options that bring in another
 * device. Each changes what is mounted, where or how, behind the driver's back: `loop` stacks a
 * second loop device on the volume's (unstage and delete then never succeed), `bind`, `move`
 * and `remount` turn the stage into another operation, `helper=` runs another program. Each
 * maps to the reason given to the caller.
 */
const REFUSED: Record<string, string> = {
  bind: BIND,
  rbind: BIND,
  move: 'mount(8) would move an existing mount instead of mounting',
  remount: 'mount(8) would change an existing mount instead of mounting',
  shared: PROPAGATION,
  rshared: PROPAGATION,
  slave: PROPAGATION,
  rslave: PROPAGATION,
  private: PROPAGATION,
  rprivate: PROPAGATION,
  unbindable: PROPAGATION,
  runbindable: PROPAGATION,
  loop: LOOP,
  offset: LOOP,
  sizelimit: LOOP,
  encryption: LOOP,
  helper: 'mount(8) would run another mount helper',
  uhelper: 'umount(8) would run another unmount helper',
  user: WHO,
  nouser: WHO,
  users: WHO,
  nousers: WHO,
  owner: WHO,
  noowner: WHO,
  group: WHO,
  nogroup: WHO,
  nofail: 'mount(8) would hide a failed mount',
  journal_path: DEVICE,
  journal_dev: DEVICE,
  logdev: DEVICE,
  rtdev: DEVICE,
};

/** Option-name prefixes mount(8) keeps for itself: x-* and X-* (X-mount.mkdir, X-mount.subdir, ...), verity.*. */
const REFUSED_PREFIXES: [string, string][] = [
  ['x-', 'mount(8) acts on x-*/X-* options itself (X-mount.* creates directories or mounts a subtree)'],
  ['verity.', 'mount(8) would set up a dm-verity device'],
];

/**
 * One mount option as libmount splits `-o`: a name, optionally `=value`, where a double-quoted
 * part of the value may hold commas (`context="system_u:object_r:t:s0:c1,c2"`). No whitespace,
 * backslashes or control characters.
 */
const SINGLE_OPTION = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*(=(?:[^",\s\\\p{Cc}]|"[^"\s\\\p{Cc}]*")*)?$/u;

/**
 * Checks the mount flags of a stage request before anything is done: each must be one option,
 * and none may be an option mount(8) acts on itself. INVALID_ARGUMENT names the flag.
 */
export function validateMountFlags(flags: string[]): string[] {
  if (flags.includes('ro') && flags.includes('rw')) {
    throw invalidArgument('mount flags "ro" and "rw" contradict each other; give one of them');
  }
  for (const flag of flags) {
    if (!SINGLE_OPTION.test(flag)) {
      throw invalidArgument(`mount flag ${quote(flag)} is not a single mount option`);
    }
    const name = (flag.split('=', 1)[0] ?? '').toLowerCase();
    const why = Object.hasOwn(REFUSED, name)
      ? REFUSED[name]
      : REFUSED_PREFIXES.find(([prefix]) => name.startsWith(prefix))?.[1];
    if (why !== undefined) {
      throw invalidArgument(
        `mount flag ${quote(flag)} is not allowed: ${why}; Dolly mounts the volume's own loop device and accepts only options of its filesystem`,
      );
    }
  }
  return flags;
}
