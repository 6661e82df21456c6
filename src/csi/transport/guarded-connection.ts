import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { ClientStreamRewriter } from './authority-fix.js';
import {
  ErrorCode,
  Flag,
  FrameBoundaries,
  FrameType,
  Http2ConnectionError,
  errorCodeName,
  goawayFrame,
} from './frames.js';
import type { FrameHeader } from './frames.js';
import { LIMITS } from './limits.js';
import type { TransportLimits } from './limits.js';

/** How long a GOAWAY may wait for the server to finish the frame it is writing, or to be flushed. */
const CLOSE_GRACE_MS = 2_000;

export interface ConnectionClosure {
  /** HTTP/2 error code sent in GOAWAY; undefined when the connection was dropped without one. */
  code: number | undefined;
  reason: string;
}

export interface GuardedConnectionOptions {
  limits?: TransportLimits;
  /** Told once, when the guard itself ends the connection (not when either side just closes it). */
  onClosedByGuard?: (closure: ConnectionClosure) => void;
}

/**
 * One client connection as the gRPC server sees it: bytes from the client go through the
 * authority fix and its limits (authority-fix.ts), bytes from the server go straight to the
 * socket. It also keeps what the connection limit needs to pick a connection to evict: whether
 * the client ever sent a request, and since when no stream is open.
 */
export class GuardedConnection extends Duplex {
  private readonly limits: TransportLimits;
  private readonly rewriter: ClientStreamRewriter;
  private readonly serverFrames = new FrameBoundaries();
  private readonly openStreams = new Set<number>();
  private readonly onClosedByGuard: ((closure: ConnectionClosure) => void) | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private pumpScheduled = false;
  private serverWantsData = true;
  private clientEnded = false;
  /** Set once the guard decided to end the connection: the GOAWAY to send, if any. */
  private closing: { goaway: Buffer | undefined; sent: boolean } | undefined;
  private requests = 0;
  private idleSince = Date.now();

  constructor(
    private readonly socket: Socket,
    options: GuardedConnectionOptions = {},
  ) {
    super({ allowHalfOpen: false });
    this.limits = options.limits ?? LIMITS;
    this.onClosedByGuard = options.onClosedByGuard;
    this.rewriter = new ClientStreamRewriter({
      limits: this.limits,
      onFrame: (header) => this.clientFrame(header),
    });
    this.handshakeTimer = setTimeout(() => {
      // Bytes that arrived while the event loop was busy are read before this runs.
      setImmediate(() => {
        if (!this.rewriter.handshakeComplete) {
          this.dropWithoutGoaway(`no HTTP/2 preface within ${this.limits.handshakeTimeoutMs} ms`);
        }
      });
    }, this.limits.handshakeTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      if (this.closing) return;
      this.rewriter.write(chunk);
      this.pump();
    });
    socket.on('end', () => {
      this.clientEnded = true;
      this.pump();
    });
    socket.on('close', () => this.destroy());
    socket.on('error', (error) => this.destroy(error));
  }

  /** Requests (header blocks opening a stream) the client has sent. */
  get requestCount(): number {
    return this.requests;
  }

  get openStreamCount(): number {
    return this.openStreams.size;
  }

  /** When the last open stream ended (or the connection opened): the connection is idle since. */
  get idleSinceMs(): number {
    return this.idleSince;
  }

  /** Ends an idle connection to make room for a new one: GOAWAY NO_ERROR, as a server shutting down sends. */
  evict(reason: string): void {
    this.fail(new Http2ConnectionError(ErrorCode.NO_ERROR, reason));
  }

  override _read(): void {
    this.serverWantsData = true;
    this.pump();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.closing) {
      this.finishServerFrame(chunk);
      callback();
      return;
    }
    this.serverFrames.scan(chunk, (header) => this.serverFrame(header));
    this.socket.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.closing) {
      callback();
      return;
    }
    this.socket.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.handshakeTimer);
    // A GOAWAY on its way out closes the socket itself once flushed (sendGoaway).
    if (!this.closing?.sent) this.socket.destroy();
    callback(error);
  }

  /**
   * Hands the server what the client sent, at most the turn budget at a time: a client that
   * sends as fast as it can waits for the next event-loop turn like everyone else, and the
   * socket is paused whenever the server or the budget says stop.
   */
  private pump(): void {
    if (this.closing || this.destroyed) return;
    let result: { output: Buffer; more: boolean };
    try {
      result = this.rewriter.read(this.limits.turnBudgetBytes);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.rewriter.handshakeComplete) clearTimeout(this.handshakeTimer);
    if (result.output.length > 0) this.serverWantsData = this.push(result.output);
    if (result.more && this.serverWantsData) {
      this.socket.pause();
      if (!this.pumpScheduled) {
        this.pumpScheduled = true;
        setImmediate(() => {
          this.pumpScheduled = false;
          this.pump();
        });
      }
    } else if (result.more || !this.serverWantsData) {
      this.socket.pause(); // _read() pumps again
    } else if (this.clientEnded) {
      this.clientEnded = false;
      this.push(null);
    } else {
      this.socket.resume();
    }
  }

  private clientFrame(header: FrameHeader): void {
    if (header.type === FrameType.HEADERS && header.streamId > this.rewriter.lastStreamId) {
      if (!this.openStreams.has(header.streamId)) this.requests += 1;
      this.openStreams.add(header.streamId);
    } else if (header.type === FrameType.RST_STREAM) {
      this.streamEnded(header.streamId);
    }
  }

  private serverFrame(header: FrameHeader): void {
    const ends =
      header.type === FrameType.RST_STREAM ||
      ((header.type === FrameType.HEADERS || header.type === FrameType.DATA) &&
        header.flags & Flag.END_STREAM);
    if (ends) this.streamEnded(header.streamId);
  }

  private streamEnded(streamId: number): void {
    if (this.openStreams.delete(streamId) && this.openStreams.size === 0) this.idleSince = Date.now();
  }

  /** Ends the connection with a GOAWAY, once the server's frame in progress is complete. */
  private fail(error: unknown): void {
    if (this.closing) return;
    const code = error instanceof Http2ConnectionError ? error.code : ErrorCode.INTERNAL_ERROR;
    const reason = error instanceof Error ? error.message : String(error);
    this.closing = { goaway: goawayFrame(this.rewriter.lastStreamId, code, reason), sent: false };
    this.stopReading();
    this.onClosedByGuard?.({ code, reason });
    if (this.serverFrames.atBoundary) this.sendGoaway();
    // Otherwise the server's next write completes its frame (finishServerFrame); if it never
    // comes, the connection is dropped without a GOAWAY.
    else {
      setTimeout(() => {
        if (!this.closing?.sent) this.dropNow();
      }, CLOSE_GRACE_MS).unref();
    }
  }

  /** Closes without a GOAWAY: the client never spoke HTTP/2. */
  private dropWithoutGoaway(reason: string): void {
    if (this.closing) return;
    this.closing = { goaway: undefined, sent: false };
    this.stopReading();
    this.onClosedByGuard?.({ code: undefined, reason });
    this.dropNow();
  }

  private stopReading(): void {
    clearTimeout(this.handshakeTimer);
    this.socket.pause();
  }

  /** While closing: passes on the rest of the server's frame in progress, then the GOAWAY. */
  private finishServerFrame(chunk: Buffer): void {
    const closing = this.closing;
    if (!closing || closing.sent || !closing.goaway) return;
    const rest = this.serverFrames.scan(chunk, () => undefined, true);
    if (rest > 0) this.socket.write(chunk.subarray(0, rest));
    if (this.serverFrames.atBoundary) this.sendGoaway();
  }

  private sendGoaway(): void {
    const closing = this.closing;
    if (!closing?.goaway || closing.sent) return;
    closing.sent = true;
    lingeringEnd(this.socket, closing.goaway);
    this.destroy();
  }

  private dropNow(): void {
    this.socket.destroy();
    this.destroy();
  }
}

/**
 * Sends the last bytes and FIN, then reads and drops what the client still sends for a moment
 * before closing: Linux resets a unix socket closed with unread data, and a client that is still
 * writing would see that reset instead of the GOAWAY.
 */
export function lingeringEnd(socket: Socket, lastBytes: Buffer): void {
  const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  socket.once('close', () => clearTimeout(timer));
  socket.on('error', () => socket.destroy());
  socket.end(lastBytes);
  socket.resume();
}

export function describeClosure(closure: ConnectionClosure): string {
  return closure.code === undefined
    ? closure.reason
    : `GOAWAY ${errorCodeName(closure.code)}: ${closure.reason}`;
}
