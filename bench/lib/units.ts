export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

const UNITS: [string, number][] = [
  ['TiB', TiB],
  ['GiB', GiB],
  ['MiB', MiB],
  ['KiB', KiB],
];

/** 67108864 → "64 MiB"; 1.5 GiB → "1.5 GiB". */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of UNITS) {
    if (Math.abs(bytes) >= size) return `${Number((bytes / size).toFixed(1))} ${unit}`;
  }
  return `${bytes} B`;
}

/** 12345 → "12,345". */
export function formatCount(count: number): string {
  return count.toLocaleString('en');
}

/** "64M", "1G", "1T", "512K", "4096" (binary units) → bytes; throws on anything else. */
export function parseBytes(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  if (!match?.[1]) throw new Error(`${JSON.stringify(text)} is not a size (e.g. 64M, 1G, 1T)`);
  const power = ' KMGT'.indexOf((match[2] ?? '').toUpperCase() || ' ');
  const bytes = Math.round(Number(match[1]) * 1024 ** power);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`${text} is out of range`);
  return bytes;
}

/** "1k" → 1000, "10k", "1m" → 1,000,000, "0", "250" → counts; throws on anything else. */
export function parseCount(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim());
  if (!match?.[1]) throw new Error(`${JSON.stringify(text)} is not a count (e.g. 0, 1000, 10k, 1m)`);
  const scale = { '': 1, k: 1000, m: 1_000_000 }[(match[2] ?? '').toLowerCase()] ?? 1;
  const count = Math.round(Number(match[1]) * scale);
  if (!Number.isSafeInteger(count) || count < 0) throw new Error(`${text} is out of range`);
  return count;
}
