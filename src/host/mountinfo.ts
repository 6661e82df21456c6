import { readFile } from 'node:fs/promises';

/** One line of /proc/self/mountinfo (see proc(5)). */
export interface MountEntry {
  id: number;
  parentId: number;
  /** "major:minor" of the mounted device. */
  device: string;
  /** The path inside the mounted filesystem that appears at the mount point (differs for bind mounts). */
  root: string;
  mountPoint: string;
  mountOptions: string[];
  fsType: string;
  source: string;
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (separator < 0 || fields.length < separator + 4) {
      throw new Error(`unexpected /proc/self/mountinfo line: ${line}`);
    }
    const [id, parentId, device, root, mountPoint, mountOptions] = fields;
    if (!/^\d+$/.test(id ?? '') || !/^\d+$/.test(parentId ?? '')) {
      throw new Error(`unexpected /proc/self/mountinfo line: ${line}`);
    }
    entries.push({
      id: Number(id),
      parentId: Number(parentId),
      device: device ?? '',
      root: unescapeOctal(root ?? ''),
      mountPoint: unescapeOctal(mountPoint ?? ''),
      mountOptions: (mountOptions ?? '').split(','),
      fsType: fields[separator + 1] ?? '',
      source: unescapeOctal(fields[separator + 2] ?? ''),
      superOptions: (fields[separator + 3] ?? '').split(','),
    });
  }
  return entries;
}

export async function readMountInfo(): Promise<MountEntry[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** The mount whose mount point is exactly `path` (the last one, which is the visible one), if any. */
export async function findMount(path: string): Promise<MountEntry | undefined> {
  const entries = await readMountInfo();
  return entries.filter((entry) => entry.mountPoint === path).at(-1);
}
