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

/**
 * A node ID: a Kubernetes label value (it is also the topology segment), so it is safe in a
 * file name: no '/', and it neither is nor starts with '.'.
 */
const NODE = '[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?';
export const NODE_ID = new RegExp(`^${NODE}$`);

/**
 * `vol-<32 hex>-<node>`: the node whose pool holds the volume is part of its ID, so a node
 * asked to copy a volume it does not hold can say which node does. `vol-<32 hex>` alone is the
 * form of Dolly 0.1 pools, still accepted.
 */
const VOLUME_ID = new RegExp(`^vol-[0-9a-f]{32}(?:-${NODE})?$`);
const SNAPSHOT_ID = new RegExp(`^snap-[0-9a-f]{32}(?:-${NODE})?$`);
/** The length of `vol-`/`snap-` and the digest: what follows, after a '-', is the node. */
const DIGEST_CHARS = 32;

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

/**
 * An ID from a request, looked up rather than judged: Dolly's own (a VolumeId), or undefined
 * for any other value, which names nothing Dolly could have made, so the caller answers as for
 * a missing object (the spec's NOT_FOUND, or OK for a delete). Only a missing value is
 * INVALID_ARGUMENT. No path is ever built from a value this returns undefined for.
 */
export function ownVolumeId(value: string, field = 'volume_id'): VolumeId | undefined {
  if (value === '') throw invalidArgument(`${field} is required`);
  return isVolumeId(value) ? value : undefined;
}

export function ownSnapshotId(value: string, field = 'snapshot_id'): SnapshotId | undefined {
  if (value === '') throw invalidArgument(`${field} is required`);
  return isSnapshotId(value) ? value : undefined;
}

/** Throws INVALID_ARGUMENT when a required field is empty; the lookup comes after every such check. */
export function requireField(value: string, field: string): string {
  if (value === '') throw invalidArgument(`${field} is required`);
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
 * The volume ID is derived from the CSI name and this node, so a retried CreateVolume finds
 * its volume with no name index to keep consistent, and two requests for one name contend for
 * one lock.
 */
export function volumeIdForName(name: string, node: string): VolumeId {
  return `vol-${digest(name)}-${node}` as VolumeId;
}

export function snapshotIdForName(name: string, node: string): SnapshotId {
  return `snap-${digest(name)}-${node}` as SnapshotId;
}

/** The ID a name had in a Dolly 0.1 pool (no node part), so such a volume is still found by name. */
export function legacyIdOf<Id extends VolumeId | SnapshotId>(id: Id): Id | undefined {
  const end = id.indexOf('-') + 1 + DIGEST_CHARS;
  return id.length > end ? (id.slice(0, end) as Id) : undefined;
}

/** The node whose pool holds the object with this ID; undefined for a Dolly 0.1 ID. */
export function nodeOfId(id: VolumeId | SnapshotId): string | undefined {
  const end = id.indexOf('-') + 1 + DIGEST_CHARS;
  return id.length > end ? id.slice(end + 1) : undefined;
}

function digest(name: string): string {
  return createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 32);
}
