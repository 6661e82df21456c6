import { status } from '@grpc/grpc-js';

/** What a call finally answered: OK with its response, or a gRPC code and message. */
export type Answer<T = unknown> =
  { ok: true; code: status.OK; response: T } | { ok: false; code: status; message: string };

export function codeName(code: status): string {
  return status[code] ?? `code ${code}`;
}

export function describeAnswer(answer: Answer): string {
  return answer.ok ? 'OK' : `${codeName(answer.code)}: ${answer.message}`;
}

function grpcCode(error: unknown): { code: status; message: string } | undefined {
  if (error instanceof Error && 'code' in error && typeof error.code === 'number') {
    const details = 'details' in error && typeof error.details === 'string' ? error.details : error.message;
    return { code: error.code as status, message: details };
  }
  return undefined;
}

/** One call, its outcome as an Answer (never throws for a gRPC error). */
export async function answerOf<T>(call: () => Promise<T>): Promise<Answer<T>> {
  try {
    return { ok: true, code: status.OK, response: await call() };
  } catch (error) {
    const grpc = grpcCode(error);
    if (!grpc) throw error;
    return { ok: false, code: grpc.code, message: grpc.message };
  }
}

export interface RetryOptions {
  /** Give up (and say so) after this long without an answer. */
  timeoutMs?: number;
  /** Counts every attempt, so the suites can report how many requests they sent. */
  onAttempt?: () => void;
}

/**
 * What the client library reports when the driver never answered: no driver on the socket or
 * the connection dropped by a kill (UNAVAILABLE), the channel closed under the call (CANCELLED),
 * no answer in time (DEADLINE_EXCEEDED). The driver itself answers none of these.
 */
const NOT_AN_ANSWER: status[] = [status.UNAVAILABLE, status.CANCELLED, status.DEADLINE_EXCEEDED];

export function isAnswer(answer: Answer): boolean {
  return !NOT_AN_ANSWER.includes(answer.code);
}

/**
 * Sends a call until the driver answers it, as a CO does: UNAVAILABLE (no driver on the socket,
 * the connection dropped by a kill) and DEADLINE_EXCEEDED are not answers, so the same request
 * is sent again (CANCELLED too, see NOT_AN_ANSWER). Resolves with the first real answer; rejects after `timeoutMs` without one.
 */
export async function untilAnswered<T>(
  call: () => Promise<T>,
  options: RetryOptions = {},
): Promise<Answer<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  let last: Answer<T> | undefined;
  for (let attempt = 0; Date.now() < deadline; attempt += 1) {
    options.onAttempt?.();
    last = await answerOf(call);
    if (!NOT_AN_ANSWER.includes(last.code)) return last;
    await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 500)));
  }
  throw new Error(
    `no answer within ${options.timeoutMs ?? 120_000} ms; last: ${last ? describeAnswer(last) : 'none'}`,
  );
}

/** Codes that no request may ever get from Dolly: bad input and expected conditions have their own. */
export function isForbiddenCode(code: status): boolean {
  return code === status.UNKNOWN || code === status.INTERNAL;
}
