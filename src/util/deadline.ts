import { Code, DollyError } from '../errors.js';

export function deadlineError(): DollyError {
  return new DollyError(
    Code.DEADLINE_EXCEEDED,
    'the request deadline passed before the operation finished; nothing was left half done, retry the request',
  );
}

/** Throws DEADLINE_EXCEEDED when the signal has fired: the check at each step of an operation. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw deadlineError();
}
