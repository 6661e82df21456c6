import type * as grpc from '@grpc/grpc-js';
import { Code, DollyError, codeName, toDollyError } from '../errors.js';
import type { Logger } from '../log.js';

export interface RpcContext {
  /** Fires when the caller's deadline passes or the caller cancels. */
  signal: AbortSignal;
}

export type RpcHandler<Request, Response> = (request: Request, context: RpcContext) => Promise<Response>;

/** Told of every answered RPC (metrics); must be cheap, it runs on every call. */
export type RpcObserver = (method: string, request: unknown, code: Code, seconds: number) => void;

/** RPCs that orchestrators call every few seconds; their successes are logged at debug level. */
const ROUTINE = new Set([
  'Probe',
  'GetPluginInfo',
  'GetPluginCapabilities',
  'ControllerGetCapabilities',
  'NodeGetCapabilities',
  'GetCapacity',
]);

/** Request fields that name the object an RPC is about, in order of preference, for the log line. */
const SUBJECT_FIELDS = ['volume_id', 'snapshot_id', 'name', 'source_volume_id'] as const;

function subjectOf(request: unknown): Record<string, string> {
  if (typeof request !== 'object' || request === null) return {};
  const record = request as Record<string, unknown>;
  for (const field of SUBJECT_FIELDS) {
    const value = record[field];
    if (typeof value === 'string' && value !== '') {
      return { [field === 'name' ? 'name' : field.replace(/_id$/, '')]: value.slice(0, 256) };
    }
  }
  return {};
}

/** A copy of a request fit for a debug log: every (csi_secret) field replaced. */
export function redact(value: unknown, secretFields: ReadonlySet<string>): unknown {
  if (Array.isArray(value)) return value.map((item) => redact(item, secretFields));
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, field]) => [
      key,
      secretFields.has(key) ? '[redacted]' : redact(field, secretFields),
    ]),
  );
}

function deadlineSignal(call: grpc.ServerUnaryCall<unknown, unknown>): {
  signal: AbortSignal;
  dispose: () => void;
} {
  const controller = new AbortController();
  const onCancel = (): void => controller.abort();
  call.on('cancelled', onCancel);
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  let timer: NodeJS.Timeout | undefined;
  if (Number.isFinite(deadlineMs)) {
    // A few milliseconds early, so the answer still reaches the caller before it gives up.
    timer = setTimeout(() => controller.abort(), Math.max(0, deadlineMs - Date.now() - 5));
  }
  return {
    signal: controller.signal,
    dispose: () => {
      if (timer) clearTimeout(timer);
      call.off('cancelled', onCancel);
    },
  };
}

/**
 * Adapts an async handler to grpc-js: honours the deadline, turns every failure into a status
 * with a code (never UNKNOWN) and writes one log line per call with the method, the volume or
 * snapshot it concerns, its duration and its result code.
 */
export function unary<Request, Response>(
  method: string,
  handler: RpcHandler<Request, Response>,
  log: Logger,
  secretFields: ReadonlySet<string>,
  observe?: RpcObserver,
): grpc.handleUnaryCall<Request, Response> {
  return (call, callback) => {
    const started = process.hrtime.bigint();
    const { signal, dispose } = deadlineSignal(call);
    const subject = subjectOf(call.request);
    if (log.isLevelEnabled('debug')) {
      log.debug({ method, ...subject, request: redact(call.request, secretFields) }, 'request');
    }
    const finish = (code: Code, message?: string): void => {
      dispose();
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      observe?.(method, call.request, code, durationMs / 1000);
      const fields = {
        method,
        ...subject,
        durationMs: Math.round(durationMs * 1000) / 1000,
        code: codeName(code),
      };
      if (code === Code.OK) {
        if (ROUTINE.has(method)) log.debug(fields, 'rpc');
        else log.info(fields, 'rpc');
      } else if (code === Code.INTERNAL || code === Code.DATA_LOSS) {
        log.error({ ...fields, error: message }, 'rpc');
      } else {
        log.warn({ ...fields, error: message }, 'rpc');
      }
    };
    handler(call.request, { signal }).then(
      (response) => {
        finish(Code.OK);
        callback(null, response);
      },
      (error: unknown) => {
        const failure = toDollyError(error);
        const code = failure.code === Code.UNKNOWN ? Code.INTERNAL : failure.code;
        finish(code, failure.message);
        callback({ code, details: failure.message, name: 'DollyError', message: failure.message });
      },
    );
  };
}

/** Binds the logger, secret list and observer once, so each service lists only its methods. */
export function rpcFactory(log: Logger, secretFields: ReadonlySet<string>, observe?: RpcObserver) {
  return <Request, Response>(
    method: string,
    handler: RpcHandler<Request, Response>,
  ): grpc.handleUnaryCall<Request, Response> => unary(method, handler, log, secretFields, observe);
}

export type Rpc = ReturnType<typeof rpcFactory>;

/** For an RPC whose capability Dolly does not advertise: a clear UNIMPLEMENTED, not a silent default. */
export function notImplemented<Request, Response>(
  rpc: Rpc,
  method: string,
): grpc.handleUnaryCall<Request, Response> {
  return rpc<Request, Response>(method, () =>
    Promise.reject(
      new DollyError(
        Code.UNIMPLEMENTED,
        `${method} is not implemented by Dolly (its capability is not advertised)`,
      ),
    ),
  );
}
