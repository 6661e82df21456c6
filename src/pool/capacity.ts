import { invalidArgument, outOfRange } from '../errors.js';
import type { FsType, VolumeMode } from './meta.js';
import { DEFAULT_VOLUME_BYTES, MIN_ALIGNMENT, MiB, VOLUME_ALIGNMENT, formatSize, roundUp } from './sizes.js';

/** A CSI capacity range; 0 means "not set", as in the protobuf. */
export interface CapacityRange {
  requiredBytes: number;
  limitBytes: number;
}

export const NO_RANGE: CapacityRange = { requiredBytes: 0, limitBytes: 0 };

/**
 * The smallest filesystem Dolly makes, measured with its own mkfs options on loop devices with
 * 4 KiB sectors (xfsprogs 6.1, e2fsprogs 1.47). mkfs.xfs refuses anything below 300 MiB.
 * mkfs.ext4 accepts 224 KiB, but below 8 MiB (2048 blocks) it makes no journal, and an ext4
 * volume without one needs a full fsck after every crash.
 */
export const MIN_FILESYSTEM_BYTES: Readonly<Record<FsType, number>> = { ext4: 8 * MiB, xfs: 300 * MiB };

/** The least a new volume of this mode and filesystem must hold; a block volume has no minimum. */
export function volumeMinimum(mode: VolumeMode, fsType: FsType | undefined): { bytes: number; what: string } {
  if (mode === 'block' || fsType === undefined) return { bytes: 0, what: 'block volume' };
  return { bytes: MIN_FILESYSTEM_BYTES[fsType], what: `${fsType} filesystem Dolly makes` };
}

export function validateCapacityRange(range: CapacityRange): CapacityRange {
  for (const [field, value] of [
    ['required_bytes', range.requiredBytes],
    ['limit_bytes', range.limitBytes],
  ] as const) {
    if (!Number.isSafeInteger(value))
      throw invalidArgument(`capacity_range.${field} ${value} is not a usable size`);
    if (value < 0) throw invalidArgument(`capacity_range.${field} must not be negative (got ${value})`);
  }
  if (range.limitBytes > 0 && range.requiredBytes > range.limitBytes) {
    throw invalidArgument(
      `capacity_range.required_bytes (${range.requiredBytes}) is larger than limit_bytes (${range.limitBytes})`,
    );
  }
  return range;
}

export function fitsRange(sizeBytes: number, range: CapacityRange): boolean {
  return sizeBytes >= range.requiredBytes && (range.limitBytes === 0 || sizeBytes <= range.limitBytes);
}

/**
 * Chooses the size of a new volume: at least `required_bytes` (or the documented default), at
 * least the source's size for a clone or restore, at least `minimum.bytes` (the smallest
 * filesystem of its kind), at most `limit_bytes`, aligned to 1 MiB when the limit allows and to
 * 4 KiB otherwise, and no larger than the pool itself.
 */
export function chooseVolumeSize(
  range: CapacityRange,
  source: { sizeBytes: number; what: string } | undefined,
  poolBytes: number,
  minimum: { bytes: number; what: string } = { bytes: 0, what: '' },
): number {
  validateCapacityRange(range);
  if (minimum.bytes > 0 && range.limitBytes > 0 && range.limitBytes < minimum.bytes) {
    throw outOfRange(
      `limit_bytes ${range.limitBytes} is below ${formatSize(minimum.bytes)} (${minimum.bytes} bytes), the smallest ${minimum.what}; allow at least that much`,
    );
  }
  if (source) {
    if (range.requiredBytes > 0 && range.requiredBytes < source.sizeBytes) {
      throw outOfRange(
        `requested ${formatSize(range.requiredBytes)} (${range.requiredBytes} bytes) is smaller than the source ${source.what} (${formatSize(source.sizeBytes)}, ${source.sizeBytes} bytes); request at least the source's size`,
      );
    }
    if (range.limitBytes > 0 && range.limitBytes < source.sizeBytes) {
      throw outOfRange(
        `limit_bytes ${range.limitBytes} is smaller than the source ${source.what} (${source.sizeBytes} bytes)`,
      );
    }
  }
  const wanted =
    range.requiredBytes > 0
      ? range.requiredBytes
      : (source?.sizeBytes ?? Math.min(DEFAULT_VOLUME_BYTES, range.limitBytes || Infinity));
  let size = roundUp(Math.max(wanted, source?.sizeBytes ?? 0, minimum.bytes, 1), VOLUME_ALIGNMENT);
  if (range.limitBytes > 0 && size > range.limitBytes) {
    size = roundUp(Math.max(wanted, minimum.bytes, 1), MIN_ALIGNMENT);
    // With no required_bytes, the largest block multiple under the limit is as good as any.
    if (size > range.limitBytes) size = Math.floor(range.limitBytes / MIN_ALIGNMENT) * MIN_ALIGNMENT;
    if (size === 0 || size < range.requiredBytes || size < Math.max(source?.sizeBytes ?? 0, minimum.bytes)) {
      throw outOfRange(
        `no size between required_bytes ${range.requiredBytes} and limit_bytes ${range.limitBytes} is a whole number of 4 KiB blocks`,
      );
    }
  }
  if (size > poolBytes) {
    throw outOfRange(
      `${formatSize(size)} is larger than the whole pool (${formatSize(poolBytes)}); the largest volume this pool can hold is ${poolBytes} bytes (grow the pool with --pool-size)`,
    );
  }
  return size;
}

/**
 * The size a volume grows to: required_bytes rounded up to whole MiB (4 KiB blocks when the
 * limit demands), or the current size when that is already enough. Shrinking is OUT_OF_RANGE.
 */
export function chooseExpandedSize(range: CapacityRange, currentBytes: number, poolBytes: number): number {
  validateCapacityRange(range);
  if (range.requiredBytes === 0)
    throw invalidArgument('capacity_range.required_bytes is required to expand a volume');
  if (range.limitBytes > 0 && range.limitBytes < currentBytes) {
    throw outOfRange(
      `limit_bytes ${range.limitBytes} is smaller than the volume (${currentBytes} bytes); volumes cannot shrink`,
    );
  }
  if (range.requiredBytes <= currentBytes) return currentBytes;
  return chooseVolumeSize(range, { sizeBytes: currentBytes, what: 'volume' }, poolBytes);
}
