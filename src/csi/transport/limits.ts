/**
 * What one client connection may cost the driver. The CSI socket is local and root-only, but a
 * buggy or hostile client must still not be able to exhaust the driver's memory or stall the
 * kubelet and the sidecars. Where Node's HTTP/2 server (nghttp2 1.61 in Node 20) has a limit of
 * its own, the same limit and the same error code are used here, so a client sees the same
 * behaviour whether the guard or nghttp2 stops it.
 */
export const LIMITS = {
  /**
   * SETTINGS_MAX_FRAME_SIZE of Node's HTTP/2 server, which never announces a larger one (its
   * SETTINGS frame is empty and grpc-js changes nothing): a larger frame is a FRAME_SIZE_ERROR.
   */
  maxFrameSize: 16_384,
  /** nghttp2's max_continuations (since 1.61): more CONTINUATION frames after one HEADERS end the connection. */
  maxContinuations: 8,
  /**
   * A header block, compressed and decoded (name + value + 32 octets per field, RFC 9113
   * §6.5.2). 64 KiB is Node's documented maxHeaderListSize and nghttpx's default; a gRPC
   * request's headers are a few hundred bytes, and CSI puts secrets in the message, not in
   * headers. Decoding stops at the limit, so an HPACK bomb (a one-byte reference to a 4 KiB
   * table entry, repeated) costs nothing.
   */
  maxHeaderBlockBytes: 65_536,
  maxHeaderListSize: 65_536,
  /** Streams open at once on one connection, announced to the client (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams: 256,
  /**
   * Connections at once. The kubelet opens one connection per call and each sidecar keeps one
   * open; at the limit a new connection evicts the one idle the longest (see connection-limit.ts).
   */
  maxConnections: 256,
  /** A connection that has not sent the HTTP/2 preface and its SETTINGS frame by then is closed. */
  handshakeTimeoutMs: 5_000,
  /**
   * Bytes (read plus written) one connection's guard handles per event-loop turn before it
   * yields to the other connections; a flood from one client then delays the others by at
   * most a few milliseconds per turn.
   */
  turnBudgetBytes: 65_536,
} as const;

export type TransportLimits = { [Key in keyof typeof LIMITS]: number };
