/**
 * Fault injection for the reliability harness (`npm run reliability`): a named point in a
 * mutating operation where the driver can be made to die as `kill -9` would kill it, so that
 * crash safety is tested at the exact moments that matter (inside a freeze window, between an
 * image change and its metadata write), not only where a random kill happens to land.
 *
 * Off unless the driver is started with DOLLY_FAULT_CRASH=<point>[:<n>]: the process then
 * SIGKILLs itself the n-th time (default: the first) it reaches <point>. Read once at start;
 * a disabled point costs one comparison.
 */
export const FAULT_POINTS = [
  /** A source's filesystem is frozen and its image not yet copied. */
  'clone:frozen',
  /** A clone or snapshot image is complete in tmp/, not yet renamed into place. */
  'build:before-rename',
  /** An expansion has grown the image and not yet written the new size. */
  'expand:image-grown',
  /** A deleted object has been renamed into trash/ and not yet removed. */
  'delete:trashed',
  /** A stage has attached the loop device and not yet made or mounted the filesystem. */
  'stage:attached',
] as const;

/** The same for the `dolly` command (a client of the driver; the driver's harness skips these). */
export const CLIENT_FAULT_POINTS = [
  /** `dolly apply`/`volume create` has recorded a claim Pending and not yet called CreateVolume. */
  'apply:claim-pending',
  /** A claim's volume exists (CreateVolume answered) and the claim is not yet recorded Bound. */
  'apply:volume-created',
] as const;
export type DriverFaultPoint = (typeof FAULT_POINTS)[number];
export type FaultPoint = DriverFaultPoint | (typeof CLIENT_FAULT_POINTS)[number];
const ALL_POINTS: readonly string[] = [...FAULT_POINTS, ...CLIENT_FAULT_POINTS];

export const FAULT_ENV = 'DOLLY_FAULT_CRASH';

function parse(spec: string | undefined): { point: string; remaining: number } | undefined {
  if (spec === undefined || spec === '') return undefined;
  const [point = '', nth = '1'] = spec.split(/:(?=\d+$)/);
  const remaining = Number(nth);
  if (!ALL_POINTS.includes(point) || !Number.isSafeInteger(remaining) || remaining < 1) {
    throw new Error(
      `${FAULT_ENV}=${JSON.stringify(spec)} is not <point>[:<n>]; points: ${ALL_POINTS.join(', ')}`,
    );
  }
  return { point, remaining };
}

const armed = parse(process.env[FAULT_ENV]);

/** Dies here (SIGKILL, no cleanup, as a crash would) when the harness armed this point. */
export function faultPoint(point: FaultPoint): void {
  if (armed?.point !== point) return;
  armed.remaining -= 1;
  if (armed.remaining === 0) process.kill(process.pid, 'SIGKILL');
}
