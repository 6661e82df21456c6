import type { Socket } from 'node:net';
import { ErrorCode, FrameType, frameOf, goawayFrame } from './frames.js';
import { lingeringEnd } from './guarded-connection.js';

export interface LimitedConnection {
  readonly requestCount: number;
  readonly openStreamCount: number;
  readonly idleSinceMs: number;
  evict(reason: string): void;
}

/**
 * A bound on simultaneous connections. Healthy clients are never closed on a timer: every CSI
 * sidecar keeps one idle connection for its whole life and exits when it loses it. So at the
 * limit a new connection is admitted by evicting the connection that is cheapest to lose, and
 * refused only when every connection has a call in progress.
 */
export class ConnectionLimit<Connection extends LimitedConnection> {
  private readonly connections = new Set<Connection>();

  constructor(readonly max: number) {}

  get size(): number {
    return this.connections.size;
  }

  /** Makes room for one more connection; false when none can be evicted. */
  makeRoom(): boolean {
    if (this.connections.size < this.max) return true;
    const victim = pickVictim(this.connections);
    if (!victim) return false;
    this.connections.delete(victim);
    victim.evict(`connection limit (${this.max}) reached and this connection was the idlest`);
    return true;
  }

  add(connection: Connection): void {
    this.connections.add(connection);
  }

  delete(connection: Connection): void {
    this.connections.delete(connection);
  }
}

/**
 * The connection to evict: never one with a stream open; first one that never sent a request (a
 * client opening idle connections evicts its own before anyone's; one that never even finishes
 * its handshake is closed by the handshake timeout anyway), then the one idle the longest.
 */
export function pickVictim<Connection extends LimitedConnection>(
  connections: Iterable<Connection>,
): Connection | undefined {
  let victim: Connection | undefined;
  let victimRank: number[] = [];
  for (const connection of connections) {
    if (connection.openStreamCount > 0) continue;
    const rank = [connection.requestCount > 0 ? 1 : 0, connection.idleSinceMs];
    if (!victim || isLess(rank, victimRank)) {
      victim = connection;
      victimRank = rank;
    }
  }
  return victim;
}

function isLess(a: number[], b: number[]): boolean {
  for (let index = 0; index < a.length; index += 1) {
    const left = a[index] ?? 0;
    const right = b[index] ?? 0;
    if (left !== right) return left < right;
  }
  return false;
}

/** Turns a connection away as an HTTP/2 server would: its (empty) SETTINGS, then GOAWAY. */
export function refuseConnection(socket: Socket, reason: string): void {
  socket.on('data', () => undefined);
  lingeringEnd(
    socket,
    Buffer.concat([
      frameOf(FrameType.SETTINGS, 0, 0, Buffer.alloc(0)),
      goawayFrame(0, ErrorCode.ENHANCE_YOUR_CALM, reason),
    ]),
  );
}
