import { readFile } from 'node:fs/promises';
import http2 from 'node:http2';
import net from 'node:net';
import type { ServiceError } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { CsiClient } from '../../src/client/csi-client.js';
import { LIMITS } from '../../src/csi/transport/limits.js';
import { Driver } from '../../test/helpers/driver.js';
import { Sandbox } from '../../test/helpers/sandbox.js';
import {
  CONTINUATION,
  HANDSHAKE,
  HEADERS,
  PREFACE,
  RawHttp2Connection,
  frame,
  frameHeader,
  grpcRequestBlock,
  headerBlockFrames,
  hpackLiteral,
  probeOverHttp2,
} from '../../test/helpers/raw-http2.js';
import type { CheckRow, Suite, SuiteContext } from '../types.js';

/**
 * The CSI socket as an attack surface: floods, oversized frames and header blocks, idle
 * connections, a slowloris and garbage against a real driver on a sandboxed pool. After each
 * scenario the driver must be alive, answer Probe and a CreateVolume/DeleteVolume on a fresh
 * connection, have answered no call with UNKNOWN, and its RSS must come back near its baseline.
 */

const SUITE = 'http2-abuse';
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const NO_ERROR = 0x0;
const INTERNAL_ERROR = 0x2;
const FRAME_SIZE_ERROR = 0x6;
const ENHANCE_YOUR_CALM = 0xb;

interface Sizes {
  floodConnections: number;
  floodBytes: number;
  oversizedFrames: number;
  headerBlocks: number;
  idleExtra: number;
  slowHandshakes: number;
  slowRequests: number;
  slowByteDelayMs: number;
  garbageConnections: number;
  /**
   * RSS may stay this far above the baseline (measured: it ends 20-40 MiB above after the whole
   * full run; before the limits, one flood added 300-700 MiB for good)...
   */
  rssMarginBytes: number;
  /** ...once V8 has had this long to give memory back (its memory reducer takes about a minute). */
  rssSettleMs: number;
}

const QUICK: Sizes = {
  floodConnections: 4,
  floodBytes: 4 * MiB,
  oversizedFrames: 10,
  headerBlocks: 10,
  idleExtra: 20,
  slowHandshakes: 1,
  slowRequests: 1,
  slowByteDelayMs: 5,
  garbageConnections: 10,
  rssMarginBytes: 64 * MiB,
  rssSettleMs: 10_000,
};

const FULL: Sizes = {
  floodConnections: 50,
  floodBytes: 256 * MiB,
  oversizedFrames: 200,
  headerBlocks: 200,
  idleExtra: 3 * LIMITS.maxConnections,
  slowHandshakes: 5,
  slowRequests: 3,
  slowByteDelayMs: 20,
  garbageConnections: 500,
  rssMarginBytes: 64 * MiB,
  rssSettleMs: 150_000,
};

interface ScenarioResult {
  injections: number;
  requests: number;
  violations: string[];
}

interface Scenario {
  name: string;
  run: (harness: Harness) => Promise<ScenarioResult>;
}

/** Everything a scenario needs: the driver, the sizes, a seeded random source. */
interface Harness {
  driver: Driver;
  sizes: Sizes;
  random: () => number;
  log: (message: string) => void;
}

export const http2Abuse: Suite = {
  name: SUITE,
  perBackend: false,
  run: async (context: SuiteContext): Promise<CheckRow[]> => {
    const sizes = context.quick ? QUICK : FULL;
    const sandbox = await Sandbox.create('reliability-http2');
    const rows: CheckRow[] = [];
    try {
      const pool = await sandbox.xfsPool('pool', GiB);
      const driver = await Driver.start(sandbox, { pool });
      const harness: Harness = { driver, sizes, random: mulberry32(context.seed), log: context.log };
      const driverIsDead = (): boolean =>
        harness.driver.child.exitCode !== null || harness.driver.child.signalCode !== null;
      await afterwardsChecks(harness, 'warm-up'); // the baseline includes code paths already used
      let baseline = await rss(driver);
      context.log(`${SUITE}: driver RSS baseline ${formatMiB(baseline)}`);
      for (const scenario of SCENARIOS) {
        const started = Date.now();
        const latency = startProbeLoop(harness.driver);
        let result: ScenarioResult;
        try {
          result = await scenario.run(harness);
        } catch (error) {
          result = { injections: 0, requests: 0, violations: [`the scenario failed: ${String(error)}`] };
        }
        const scenarioMs = Date.now() - started;
        const probes = await latency.stop();
        const after = await afterwardsChecks(harness, scenario.name);
        const memory = await settledRss(harness.driver, baseline, sizes);
        const violations = [...result.violations, ...probes.violations, ...after.violations];
        if (memory.rss > baseline + sizes.rssMarginBytes) {
          violations.push(
            `RSS ${formatMiB(memory.rss)} stayed above the baseline ${formatMiB(baseline)} + ${formatMiB(sizes.rssMarginBytes)} for ${memory.waitedMs} ms (peak ${formatMiB(latency.peakRss())})`,
          );
        }
        context.log(
          `${SUITE}: ${scenario.name}: ${result.injections} abusive connections/frames in ${scenarioMs} ms; ` +
            `Probe on another connection p50 ${probes.p50.toFixed(1)} ms, p99 ${probes.p99.toFixed(1)} ms (${probes.count} calls); ` +
            `RSS peak ${formatMiB(latency.peakRss())}, after ${formatMiB(memory.rss)}; ${violations.length} violations`,
        );
        if (driverIsDead()) {
          // Reported above; the next scenarios get a driver of their own.
          context.log(`${SUITE}: the driver died during ${scenario.name}; starting another`);
          harness.driver = await Driver.start(sandbox, { pool });
          baseline = await rss(harness.driver);
        }
        rows.push({
          suite: SUITE,
          check: scenario.name,
          injections: result.injections,
          requests: result.requests + probes.count + after.requests,
          violations,
        });
      }
    } finally {
      await sandbox.cleanup();
    }
    return rows;
  },
};

const SCENARIOS: Scenario[] = [
  {
    name: 'CONTINUATION flood without END_HEADERS',
    run: async ({ driver, sizes }) => {
      const continuation = frame(CONTINUATION, 0, 1, Buffer.alloc(16_384, 0x40));
      return floodScenario(driver, sizes.floodConnections, async (connection) => {
        await connection.send(frame(HEADERS, 0, 1, grpcRequestBlock('/csi.v1.Identity/Probe')));
        await connection.flood(() => continuation, sizes.floodBytes);
        return expectGoaway(connection, ENHANCE_YOUR_CALM);
      });
    },
  },
  {
    name: 'zero-length CONTINUATION flood',
    run: async ({ driver, sizes }) => {
      const batch = Buffer.concat(Array.from({ length: 4096 }, () => frame(CONTINUATION, 0, 1)));
      return floodScenario(driver, sizes.floodConnections, async (connection) => {
        await connection.send(frame(HEADERS, 0, 1, grpcRequestBlock('/csi.v1.Identity/Probe')));
        await connection.flood(() => batch, sizes.floodBytes);
        return expectGoaway(connection, INTERNAL_ERROR);
      });
    },
  },
  {
    name: 'oversized frame headers',
    run: async ({ driver, sizes, random }) =>
      floodScenario(driver, sizes.oversizedFrames, async (connection) => {
        const length = LIMITS.maxFrameSize + 1 + Math.floor(random() * (0xffffff - LIMITS.maxFrameSize));
        const type = Math.floor(random() * 10);
        await connection.send(frameHeader(type, 0, 1, length));
        return expectGoaway(connection, FRAME_SIZE_ERROR);
      }),
  },
  {
    name: 'oversized header blocks and HPACK bombs',
    run: async ({ driver, sizes, random }) =>
      floodScenario(driver, sizes.headerBlocks, async (connection, index) => {
        if (index % 2 === 0) {
          const value = 'a'.repeat(LIMITS.maxHeaderBlockBytes + Math.floor(random() * 60_000));
          const block = Buffer.concat([grpcRequestBlock('/x'), hpackLiteral('x-big', value)]);
          for (const piece of headerBlockFrames(1, block)) {
            if (!(await connection.send(piece))) break;
          }
        } else {
          const entry = hpackLiteral('x-b', 'b'.repeat(4000), true); // dynamic table index 62
          await connection.send(frame(HEADERS, 0x5, 1, Buffer.concat([grpcRequestBlock('/x'), entry])));
          const references = 17 + Math.floor(random() * 16_000);
          const bomb = Buffer.concat([Buffer.from([0x83, 0x86, 0x84]), Buffer.alloc(references, 0x80 | 62)]);
          for (const piece of headerBlockFrames(3, bomb)) {
            if (!(await connection.send(piece))) break;
          }
        }
        return expectGoaway(connection, ENHANCE_YOUR_CALM);
      }),
  },
  {
    name: 'idle connections beyond the limit',
    run: async ({ driver, sizes }) => {
      const violations: string[] = [];
      const healthy = await HealthyClient.connect(driver);
      let requests = 1;
      const connections: RawHttp2Connection[] = [];
      try {
        const count = LIMITS.maxConnections + sizes.idleExtra;
        for (let index = 0; index < count; index += 1) {
          connections.push(await RawHttp2Connection.open(driver.socketPath, HANDSHAKE));
        }
        await probeOnce(driver); // the driver has seen every connection
        requests += 1;
        for (let waited = 0; waited < 5_000; waited += 100) {
          if (connections.filter((connection) => connection.isClosed).length >= sizes.idleExtra) break;
          await sleep(100);
        }
        const evicted = connections.filter((connection) => connection.isClosed);
        if (evicted.length < sizes.idleExtra) {
          violations.push(
            `${count} idle connections: only ${evicted.length} were evicted, expected at least ${sizes.idleExtra}`,
          );
        }
        for (const connection of evicted) {
          const code = connection.goaway()?.code;
          if (code !== NO_ERROR) {
            violations.push(`an evicted connection got GOAWAY ${String(code)} instead of NO_ERROR`);
            break;
          }
        }
        if (healthy.closed) violations.push('the connection that had made a call was evicted');
        else {
          requests += 1;
          const problem = await healthy.call();
          if (problem) violations.push(`the connection that had made a call: ${problem}`);
        }
      } finally {
        for (const connection of connections) connection.destroy();
        healthy.close();
      }
      return { injections: connections.length, requests, violations };
    },
  },
  {
    name: 'slowloris (bytes one at a time)',
    run: async ({ driver, sizes }) => {
      const violations: string[] = [];
      // Before the handshake: one preface byte every 300 ms takes longer than the handshake timeout.
      const handshakes = Array.from({ length: sizes.slowHandshakes }, async () => {
        const connection = await RawHttp2Connection.open(driver.socketPath, Buffer.alloc(0));
        for (const byte of PREFACE) {
          if (!(await connection.send(Buffer.from([byte])))) break;
          await sleep(300);
        }
        if (!(await connection.waitForClose(LIMITS.handshakeTimeoutMs + 10_000))) {
          violations.push(`a preface sent one byte every 300 ms was not closed by the handshake timeout`);
        }
        connection.destroy();
      });
      // After the handshake: a whole request one byte at a time is slow, not wrong: it is answered.
      const requests = Array.from({ length: sizes.slowRequests }, async () => {
        const problem = await slowRequest(driver, sizes.slowByteDelayMs);
        if (problem) violations.push(`a request sent one byte at a time: ${problem}`);
      });
      await Promise.all([...handshakes, ...requests]);
      return {
        injections: sizes.slowHandshakes + sizes.slowRequests,
        requests: sizes.slowRequests,
        violations,
      };
    },
  },
  {
    name: 'random garbage after the preface',
    run: async ({ driver, sizes, random }) =>
      floodScenario(driver, sizes.garbageConnections, async (connection) => {
        const garbage = Buffer.from(
          Array.from({ length: 1 + Math.floor(random() * 4096) }, () => random() * 256),
        );
        await connection.send(garbage);
        // Garbage can happen to be a valid frame sequence that waits for more; that is not a
        // violation. Whatever the driver sent must be whole frames, and the driver must live.
        const closed = await connection.waitForClose(3_000);
        try {
          connection.frames();
        } catch (error) {
          return `the driver's bytes after garbage: ${String(error)}`;
        }
        return closed || connection.goaway() === undefined
          ? undefined
          : 'GOAWAY sent but the connection stayed open';
      }),
  },
];

/**
 * Runs `count` abusive connections, a few at a time; each returns a violation or undefined.
 * A connection still open at the end is closed by the suite.
 */
async function floodScenario(
  driver: Driver,
  count: number,
  abuse: (connection: RawHttp2Connection, index: number) => Promise<string | undefined>,
): Promise<ScenarioResult> {
  const violations = new Set<string>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next;
      next += 1;
      const connection = await RawHttp2Connection.open(driver.socketPath);
      try {
        const problem = await abuse(connection, index);
        if (problem) violations.add(problem);
      } finally {
        connection.destroy();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, count) }, worker));
  return { injections: count, requests: 0, violations: [...violations] };
}

/** Waits for the driver to close the connection with GOAWAY `code`, written at a frame boundary. */
async function expectGoaway(connection: RawHttp2Connection, code: number): Promise<string | undefined> {
  if (!(await connection.waitForClose(15_000)))
    return `the connection was not closed (expected GOAWAY ${code})`;
  try {
    const goaway = connection.goaway();
    if (!goaway) return `closed without GOAWAY (expected ${code})`;
    if (goaway.code !== code) return `GOAWAY ${goaway.code} (${goaway.reason}), expected ${code}`;
  } catch (error) {
    return String(error); // the driver's bytes ended inside a frame
  }
  return undefined;
}

/** After each scenario: alive, Probe and CreateVolume/DeleteVolume on a fresh connection, no UNKNOWN. */
async function afterwardsChecks(
  harness: Harness,
  label: string,
): Promise<{ requests: number; violations: string[] }> {
  const { driver } = harness;
  const violations: string[] = [];
  if (driver.child.exitCode !== null || driver.child.signalCode !== null) {
    return {
      requests: 0,
      violations: [
        `the driver exited (${driver.child.exitCode ?? driver.child.signalCode}): ${driver.stderr.slice(-500)}`,
      ],
    };
  }
  const client = new CsiClient(driver.endpoint);
  let requests = 0;
  try {
    requests += 1;
    const probe = await client.probe({ timeoutMs: 10_000 });
    if (probe.ready?.value !== true) violations.push(`Probe after ${label} answered not ready`);
    const name = `http2-abuse-${label.replace(/[^a-z0-9]+/gi, '-')}-${Math.floor(harness.random() * 1e9)}`;
    requests += 1;
    const created = await client.createVolume(
      {
        name,
        capacity_range: { required_bytes: 16 * MiB },
        volume_capabilities: [{ access_mode: { mode: 'SINGLE_NODE_WRITER' }, mount: { fs_type: 'ext4' } }],
      },
      { timeoutMs: 30_000 },
    );
    requests += 1;
    await client.deleteVolume({ volume_id: created.volume?.volume_id ?? '' }, { timeoutMs: 30_000 });
  } catch (error) {
    const code = (error as Partial<ServiceError>).code;
    violations.push(`after ${label}: ${code === undefined ? '' : `${status[code]} `}${String(error)}`);
  } finally {
    client.close();
  }
  const unknown = driver.logs.filter((line) => line.msg === 'rpc' && line.code === 'UNKNOWN');
  if (unknown.length > 0) violations.push(`${unknown.length} calls were answered UNKNOWN`);
  return { requests, violations };
}

async function probeOnce(driver: Driver): Promise<void> {
  const client = new CsiClient(driver.endpoint);
  try {
    await client.probe({ timeoutMs: 10_000 });
  } finally {
    client.close();
  }
}

/**
 * Probes on one connection of their own for as long as a scenario runs: the latency other
 * clients see (logged, not judged: no timing invariants), and calls that fail (judged).
 */
function startProbeLoop(driver: Driver): {
  stop: () => Promise<{ count: number; p50: number; p99: number; violations: string[] }>;
  peakRss: () => number;
} {
  const client = new CsiClient(driver.endpoint);
  const latencies: number[] = [];
  const violations = new Set<string>();
  let running = true;
  let peak = 0;
  const sample = (): Promise<void> =>
    rss(driver).then(
      (value) => {
        peak = Math.max(peak, value);
      },
      () => undefined,
    );
  void sample();
  const sampler = setInterval(() => void sample(), 100);
  const loop = (async () => {
    while (running) {
      const started = process.hrtime.bigint();
      try {
        await client.probe({ timeoutMs: 10_000 });
      } catch (error) {
        violations.add(`a Probe on another connection failed during the abuse: ${String(error)}`);
      }
      latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
      await sleep(10);
    }
  })();
  return {
    peakRss: () => peak,
    stop: async () => {
      running = false;
      await loop;
      clearInterval(sampler);
      await sample();
      client.close();
      const sorted = [...latencies].sort((a, b) => a - b);
      const at = (fraction: number): number =>
        sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? 0;
      return { count: latencies.length, p50: at(0.5), p99: at(0.99), violations: [...violations] };
    },
  };
}

/** A client the way a CSI sidecar is: one HTTP/2 connection, a call, then idle. */
class HealthyClient {
  private constructor(private readonly session: http2.ClientHttp2Session) {}

  static async connect(driver: Driver): Promise<HealthyClient> {
    const session = http2.connect('http://localhost', {
      createConnection: () => net.connect(driver.socketPath),
    });
    session.on('error', () => undefined);
    const client = new HealthyClient(session);
    const problem = await client.call();
    if (problem) throw new Error(`a healthy client could not make its first call: ${problem}`);
    return client;
  }

  get closed(): boolean {
    return this.session.closed || this.session.destroyed;
  }

  /** A Probe; resolves with what went wrong, or undefined. */
  call(): Promise<string | undefined> {
    return probeOverHttp2(this.session);
  }

  close(): void {
    this.session.close();
  }
}

/** A Probe written one byte at a time after a normal handshake; resolves with what went wrong. */
async function slowRequest(driver: Driver, byteDelayMs: number): Promise<string | undefined> {
  const connection = await RawHttp2Connection.open(driver.socketPath, Buffer.alloc(0));
  try {
    const request = Buffer.concat([
      HANDSHAKE,
      ...headerBlockFrames(1, grpcRequestBlock('/csi.v1.Identity/Probe'), 0),
      frame(0x0, 0x1, 1, Buffer.from([0, 0, 0, 0, 0])),
    ]);
    for (const byte of request) {
      if (!(await connection.send(Buffer.from([byte])))) return 'the driver closed the connection';
      await sleep(byteDelayMs);
    }
    for (let waited = 0; waited < 10_000; waited += 50) {
      const frames = connection.frames();
      const trailers = frames.find(
        (candidate) => candidate.type === HEADERS && candidate.streamId === 1 && candidate.flags & 0x1,
      );
      if (trailers) return undefined;
      if (connection.isClosed) return 'the connection closed before the answer';
      await sleep(50);
    }
    return 'no answer within 10 s';
  } finally {
    connection.destroy();
  }
}

/** Waits for RSS to come back within the margin of the baseline, up to the settle time. */
async function settledRss(
  driver: Driver,
  baseline: number,
  sizes: Sizes,
): Promise<{ rss: number; waitedMs: number }> {
  const started = Date.now();
  for (;;) {
    const current = await rss(driver);
    const waitedMs = Date.now() - started;
    if (current <= baseline + sizes.rssMarginBytes || waitedMs >= sizes.rssSettleMs)
      return { rss: current, waitedMs };
    await sleep(1_000);
  }
}

/** The driver's resident memory; 0 once it has exited. */
async function rss(driver: Driver): Promise<number> {
  const text = await readFile(`/proc/${driver.child.pid}/status`, 'utf8').catch(() => '');
  const kib = Number(/^VmRSS:\s+(\d+) kB$/m.exec(text)?.[1] ?? 0);
  return kib * 1024;
}

function formatMiB(bytes: number): string {
  return `${(bytes / MiB).toFixed(0)} MiB`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A small seeded PRNG (mulberry32): the same seed repeats a run. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}
