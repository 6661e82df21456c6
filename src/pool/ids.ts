import { createHash } from 'node:crypto';
import { invalidArgument } from '../errors.js';

/**
 * Dolly's own identifiers. Every ID that arrives in a request is checked against these exact
 * patterns before any path is built from it, so no request can name a path outside the pool.
 * The branded types make "validated" visible to the compiler: the layout functions that build
 * paths accept only a VolumeId/SnapshotId, never a plain string.
 */
export type VolumeId = string & { readonly __brand: 'VolumeId' };
export type SnapshotId = string & { readonly __brand: 'SnapshotId' };

const VOLUME_ID = /^vol-[0-9a-f]{32}$/;
const SNAPSHOT_ID = /^snap-[0-9a-f]{32}$/;

/** CSI names are opaque strings; the spec asks plugins to support at least 128 bytes. */
export const MAX_NAME_BYTES = 1024;

export function isVolumeId(value: string): value is VolumeId {
  return VOLUME_ID.test(value);
}

export function isSnapshotId(value: string): value is SnapshotId {
  return SNAPSHOT_ID.test(value);
}

/** Shows a rejected value without letting a huge or binary value flood the log. */
export function quote(value: string): string {
  const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return JSON.stringify(shown);
}

export function parseVolumeId(value: string, field = 'volume_id'): VolumeId {
  if (value === '') throw invalidArgument(`${field} is required`);
  if (!isVolumeId(value)) {
    throw invalidArgument(
      `${field} ${quote(value)} is not a Dolly volume ID (expected vol- and 32 hex digits)`,
    );
  }
  return value;
}

export function parseSnapshotId(value: string, field = 'snapshot_id'): SnapshotId {
  if (value === '') throw invalidArgument(`${field} is required`);
  if (!isSnapshotId(value)) {
    throw invalidArgument(
      `${field} ${quote(value)} is not a Dolly snapshot ID (expected snap- and 32 hex digits)`,
    );
  }
  return value;
}

export function validateName(name: string, field = 'name'): string {
  if (name === '') throw invalidArgument(`${field} is required`);
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_NAME_BYTES) {
    throw invalidArgument(`${field} is ${bytes} bytes long; Dolly accepts at most ${MAX_NAME_BYTES}`);
  }
  // Control characters in a name are never intended and would corrupt logs and listings.
  if (/\p{Cc}/u.test(name)) throw invalidArgument(`${field} ${quote(name)} contains control characters`);
  return name;
}

/**
 * The volume ID is derived from the CSI name, so a retried CreateVolume finds its volume with
 * no name index to keep consistent, and two requests for one name contend for one lock.
 */
export function volumeIdForName(name: string): VolumeId {
  return `vol-${digest(name)}` as VolumeId;
}

export function snapshotIdForName(name: string): SnapshotId {
  return `snap-${digest(name)}` as SnapshotId;
}

function digest(name: string): string {
  return createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 32);
}
