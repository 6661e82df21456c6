/**
 * The one error type of Dolly. It carries a gRPC status code so that every layer can say *why*
 * something failed where it knows the reason, while the storage engine stays free of gRPC: the
 * numbers below are the gRPC status codes, which the CSI layer passes through unchanged.
 */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

const codeNames = new Map<number, string>(Object.entries(Code).map(([name, value]) => [value, name]));

export function codeName(code: number): string {
  return codeNames.get(code) ?? `CODE_${code}`;
}

export class DollyError extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DollyError';
    this.code = code;
  }
}

export const invalidArgument = (message: string): DollyError =>
  new DollyError(Code.INVALID_ARGUMENT, message);
export const notFound = (message: string): DollyError => new DollyError(Code.NOT_FOUND, message);
export const alreadyExists = (message: string): DollyError => new DollyError(Code.ALREADY_EXISTS, message);
export const outOfRange = (message: string): DollyError => new DollyError(Code.OUT_OF_RANGE, message);
export const internal = (message: string, cause?: unknown): DollyError =>
  new DollyError(Code.INTERNAL, message, { cause });

/** The errno code of a Node.js system error (`ENOENT`, ...), or undefined for anything else. */
export function errnoCode(error: unknown): string | undefined {
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}

/**
 * Turns anything thrown into a DollyError. Unexpected failures become INTERNAL (never UNKNOWN),
 * keeping the original message so a person can act on it.
 */
export function toDollyError(error: unknown, context?: string): DollyError {
  if (error instanceof DollyError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  const prefix = context ? `${context}: ` : '';
  switch (errnoCode(error)) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new DollyError(Code.RESOURCE_EXHAUSTED, `${prefix}the pool is out of space (${detail})`, {
        cause: error,
      });
    default:
      return internal(`${prefix}${detail}`, error);
  }
}
