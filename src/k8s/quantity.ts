/**
 * Kubernetes resource quantities for storage ("5Gi", "500Mi", "1G", "1.5Gi", "2e9"), as the API
 * server reads them: binary suffixes are powers of 1024, decimal ones powers of 1000, and a
 * fraction of a byte rounds up. Exact (BigInt) arithmetic, so "1.1Gi" is what Kubernetes makes
 * of it and not what a float does.
 */

const BINARY: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};
const DECIMAL: Record<string, bigint> = {
  '': 1n,
  k: 10n ** 3n,
  M: 10n ** 6n,
  G: 10n ** 9n,
  T: 10n ** 12n,
  P: 10n ** 15n,
  E: 10n ** 18n,
};

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)|[eE]([+-]?\d+))?$/;

export class QuantityError extends Error {}

/** Bytes of a storage quantity; throws QuantityError with a message naming the accepted forms. */
export function parseStorageQuantity(text: string): number {
  const match = QUANTITY.exec(text.trim());
  if (!match) {
    throw new QuantityError(
      `${JSON.stringify(text)} is not a quantity; write a number with an optional unit: 5Gi, 500Mi, 1G, 1.5Ti`,
    );
  }
  const [, sign = '', number = '', suffix, exponentText] = match;
  if (sign === '-') throw new QuantityError(`${JSON.stringify(text)} is negative; a size must be positive`);
  if (suffix === 'm') {
    throw new QuantityError(
      `${JSON.stringify(text)} is in thousandths (m); storage is counted in bytes: use Mi or M`,
    );
  }
  const [whole = '', fraction = ''] = number.split('.');
  const digits = BigInt(`${whole}${fraction}` || '0');
  let numerator = digits;
  let denominator = 10n ** BigInt(fraction.length);
  if (exponentText !== undefined) {
    const exponent = Number(exponentText);
    if (Math.abs(exponent) > 30) throw new QuantityError(`${JSON.stringify(text)} is out of range`);
    if (exponent >= 0) numerator *= 10n ** BigInt(exponent);
    else denominator *= 10n ** BigInt(-exponent);
  } else {
    numerator *= BINARY[suffix ?? ''] ?? DECIMAL[suffix ?? ''] ?? 1n;
  }
  const bytes = (numerator + denominator - 1n) / denominator;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER))
    throw new QuantityError(`${JSON.stringify(text)} is too large`);
  return Number(bytes);
}

/**
 * The shortest exact quantity for a byte count, as kubectl prints capacities: the largest binary
 * unit that divides it ("5Gi", "300Mi"), else the largest decimal one ("1G"), else plain bytes.
 */
export function formatQuantity(bytes: number): string {
  if (bytes === 0) return '0';
  const value = BigInt(bytes);
  for (const [suffix, unit] of Object.entries(BINARY).reverse()) {
    if (value % unit === 0n) return `${value / unit}${suffix}`;
  }
  for (const [suffix, unit] of Object.entries(DECIMAL).reverse()) {
    if (suffix !== '' && value % unit === 0n) return `${value / unit}${suffix}`;
  }
  return String(bytes);
}

/** A size for people, rounded: "1.5 GiB", "300 MiB", "12 KiB", "0 B". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const text = unit === 0 || Number.isInteger(value) ? String(value) : value.toFixed(1).replace(/\.0$/, '');
  return `${text} ${units[unit]}`;
}
