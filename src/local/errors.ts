import { status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { codeName } from '../errors.js';

/**
 * An error a person caused or can fix: printed as one line, without a stack, and the command
 * exits with `exitCode` (1: refused or failed; 2: the command line itself is wrong).
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && 'code' in error && typeof error.code === 'number' && 'details' in error;
}

/** Answers that mean "the driver will not make this": the object is refused and not kept. */
const REFUSALS: ReadonlySet<number> = new Set([
  status.INVALID_ARGUMENT,
  status.OUT_OF_RANGE,
  status.RESOURCE_EXHAUSTED,
  status.ALREADY_EXISTS,
  status.NOT_FOUND,
  status.FAILED_PRECONDITION,
  status.UNIMPLEMENTED,
]);

/** True for a driver answer that refuses the request (as opposed to one that may have half-run). */
export function isRefusal(error: unknown): boolean {
  return isServiceError(error) && REFUSALS.has(error.code);
}

/** The gRPC code of a driver's answer, or undefined for anything that is not one. */
export function csiCode(error: unknown): number | undefined {
  return isServiceError(error) ? error.code : undefined;
}

/**
 * Turns a failed CSI call into a UserError: the driver's own message (Dolly's messages say what
 * to do), prefixed with what was being done; an unreachable socket gets the fix for that.
 */
export function csiFailure(error: unknown, doing: string, socketPath: string): UserError {
  if (!isServiceError(error))
    return new UserError(`${doing}: ${error instanceof Error ? error.message : String(error)}`);
  if (error.code === status.UNAVAILABLE) {
    if (/ENOENT|ECONNREFUSED/.test(error.details)) {
      return new UserError(
        `no Dolly driver answers at ${socketPath}: start one with \`sudo dolly serve\`, or point --socket at the one you run`,
      );
    }
    if (/EACCES|EPERM/.test(error.details)) {
      return new UserError(
        `permission denied on ${socketPath}: the driver's socket is root's; run dolly with sudo`,
      );
    }
  }
  return new UserError(`${doing}: ${error.details} (${codeName(error.code)})`);
}
