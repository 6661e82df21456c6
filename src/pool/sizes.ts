import { invalidArgument } from '../errors.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

/** Size of a new volume when the request gives no capacity range. */
export const DEFAULT_VOLUME_BYTES = GiB;
/** Volumes are sized in whole MiB when the limit allows, else in whole 4 KiB blocks. */
export const VOLUME_ALIGNMENT = MiB;
export const MIN_ALIGNMENT = 4 * KiB;

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: KiB,
  ki: KiB,
  kib: KiB,
  m: MiB,
  mi: MiB,
  mib: MiB,
  g: GiB,
  gi: GiB,
  gib: GiB,
  t: TiB,
  ti: TiB,
  tib: TiB,
};

/** Parses "10G", "512Mi", "1.5TiB", "4096" (binary units; "G" means GiB) into bytes. */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = match ? UNITS[(match[2] ?? '').toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw invalidArgument(
      `${JSON.stringify(text)} is not a size; use a number with an optional unit (K, M, G, T)`,
    );
  }
  const bytes = Math.floor(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw invalidArgument(`size ${JSON.stringify(text)} is too large`);
  return bytes;
}

export function formatSize(bytes: number): string {
  const units: [number, string][] = [
    [TiB, 'TiB'],
    [GiB, 'GiB'],
    [MiB, 'MiB'],
    [KiB, 'KiB'],
  ];
  for (const [size, name] of units) {
    if (bytes >= size) {
      const value = bytes / size;
      return `${Number.isInteger(value) ? value : value.toFixed(1)} ${name}`;
    }
  }
  return `${bytes} B`;
}

export function roundUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
