import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import fc from 'fast-check';
import type { CsiClient } from '../../src/client/csi-client.js';
import type { VolumeCapability } from '../../src/generated/csi/v1/VolumeCapability.js';
import { listLoops } from '../../src/host/loop.js';
import { readMountInfo } from '../../src/host/mountinfo.js';
import { sh } from '../../test/helpers/sandbox.js';
import type { Answer } from '../answer.js';
import { answerOf, codeName, describeAnswer, isForbiddenCode } from '../answer.js';
import { checkAttachments } from '../invariants.js';
import type { Intended } from '../invariants.js';
import { PoolHost } from '../pool-host.js';
import type { CheckRow, Suite, SuiteContext } from '../types.js';
import { MiB } from '../workload.js';
import { imageInSync } from '../../src/pool/layout.js';

/**
 * fast-check over every field of every RPC. Paths aim at a canary directory and at symlinks the
 * harness makes (into the pool, into the canary, a symlinked parent directory), never at a
 * real system path: the pool sits three directories deep in the sandbox, so even its
 * ancestors are the harness's own.
 */
export const hostileInput: Suite = {
  name: 'hostile-input',
  perBackend: true,
  run: async (context) => {
    const host = await PoolHost.create('hostile', {
      poolBytes: 4 * 1024 * MiB,
      poolParents: ['a', 'b'],
      poolFs: context.poolFs,
    });
    try {
      const world = await HostileWorld.create(host);
      const rows: CheckRow[] = [];
      for (const rpc of rpcCases()) rows.push(await runProperty(world, rpc, context));
      rows.push(await runProperty(world, foreignIdCase(world), context));
      return rows;
    } finally {
      await host.dispose();
    }
  },
};

const MOUNT: VolumeCapability = { access_mode: { mode: 'SINGLE_NODE_WRITER' }, mount: { fs_type: 'ext4' } };

/** Placeholders in generated paths, made real (and unique) for each run, so examples replay. */
const FRESH = '<fresh>';
const FRESH_DIR = '<fresh-dir>';

/** The fixed things hostile requests aim at, and the state every run must leave as it found. */
class HostileWorld {
  private counter = 0;
  requests = 0;
  /**
   * Runs after this moment pass without sending anything: it bounds a property's time (and its
   * shrinking, which replays real calls) without abandoning a call in flight, as fast-check's
   * own time limit would.
   */
  deadline = Infinity;
  /** Kinds of failure already reported for the current RPC: runs that find only these pass. */
  readonly known = new Set<string>();

  /**
   * Fails the run, unless every problem is of a kind already reported: the property is run
   * again after each counterexample, and each round then finds (and shrinks) a new kind.
   */
  fail(problems: string[], context: string): void {
    const signature = [...new Set(problems.map(kindOf))].sort().join(' | ');
    if (this.known.has(signature)) return;
    throw new KindError(signature, `${problems.join('\n  ')}${context ? `\n  ${context}` : ''}`);
  }

  private constructor(
    readonly host: PoolHost,
    readonly node: string,
    readonly canary: string,
    readonly volume: string,
    /** Never staged by the base: the one stage requests mostly aim at. */
    readonly spareVolume: string,
    readonly xfsVolume: string,
    readonly blockVolume: string,
    readonly snapshot: string,
    readonly staging: string,
    readonly target: string,
    private readonly canaryState: string,
  ) {}

  static async create(host: PoolHost): Promise<HostileWorld> {
    const sandbox = host.sandbox;
    const node = sandbox.path('node');
    const canary = sandbox.path('canary');
    await mkdir(join(canary, 'disk.img'), { recursive: true });
    await writeFile(join(canary, 'meta.json'), '{"keep":"me"}');
    await writeFile(join(canary, 'disk.img', 'data'), 'precious');
    await mkdir(join(node, 'real-dir'), { recursive: true });
    await mkdir(join(node, 'holds-files'));
    await writeFile(join(node, 'holds-files', 'keep.txt'), 'not Dolly’s');
    await symlink(host.pool, join(node, 'link-pool'));
    await symlink(join(host.pool, 'tmp'), join(node, 'link-pool-tmp'));
    await symlink(canary, join(node, 'link-canary'));
    await symlink(join(node, 'real-dir'), join(node, 'link-dir'));
    const client = host.client();
    const create = async (name: string, capability: VolumeCapability, bytes: number) =>
      (
        await client.createVolume({
          name,
          volume_capabilities: [capability],
          capacity_range: { required_bytes: bytes },
        })
      ).volume?.volume_id ?? '';
    const volume = await create('hostile-base', MOUNT, 64 * MiB);
    const spareVolume = await create('hostile-base-spare', MOUNT, 64 * MiB);
    const xfsVolume = await create(
      'hostile-base-xfs',
      { access_mode: { mode: 'SINGLE_NODE_WRITER' }, mount: { fs_type: 'xfs' } },
      64 * MiB,
    );
    const blockVolume = await create(
      'hostile-base-block',
      { access_mode: { mode: 'SINGLE_NODE_WRITER' }, block: {} },
      16 * MiB,
    );
    const snapshot =
      (await client.createSnapshot({ name: 'hostile-base-snap', source_volume_id: volume })).snapshot
        ?.snapshot_id ?? '';
    const staging = join(node, 'base-staging');
    await mkdir(staging);
    const target = join(node, 'base-target');
    const world = new HostileWorld(
      host,
      node,
      canary,
      volume,
      spareVolume,
      xfsVolume,
      blockVolume,
      snapshot,
      staging,
      target,
      await snapshotTree(canary),
    );
    await world.restoreBase();
    return world;
  }

  get client(): CsiClient {
    return this.host.client();
  }

  /** Staged at `staging` and published at `target` on purpose, all the time. */
  intended(): Intended {
    return {
      mounts: [this.staging, this.target],
      images: [imageInSync(join(this.host.pool, 'volumes', this.volume))],
      writable: [],
    };
  }

  /** Everything a generated path may be; placeholders are made real per run. */
  pathArbitrary(): fc.Arbitrary<string> {
    const pool = this.host.pool;
    const sandbox = this.host.sandbox.dir;
    return fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(`${this.node}/${FRESH}`, `${this.node}/${FRESH_DIR}`) },
      {
        weight: 4,
        arbitrary: fc.constantFrom(
          `${this.node}/link-dir/${FRESH}`,
          `${this.node}/link-dir`,
          `${this.node}/link-pool`,
          `${this.node}/link-pool/tmp`,
          `${this.node}/link-pool/volumes/${this.volume}`,
          `${this.node}/link-pool-tmp`,
          `${this.node}/link-pool-tmp/${FRESH}`,
          `${this.node}/link-canary`,
          `${this.node}/link-canary/disk.img`,
          `${this.node}/holds-files`,
          `${this.node}/../a/b/pool/tmp`,
          `${this.node}/./${FRESH}`,
          `${this.node}//${FRESH}/`,
          pool,
          `${pool}/tmp`,
          `${pool}/trash`,
          `${pool}/volumes/${this.volume}`,
          `${pool}/volumes/${this.volume}/disk.img`,
          `${pool}/${FRESH}`,
          `${sandbox}/a/b`,
          `${sandbox}/a`,
          sandbox,
          this.canary,
          `${this.canary}/disk.img`,
          this.staging,
          this.target,
          `${this.node}/${'d'.repeat(255)}/${'e'.repeat(255)}`,
          `${this.node}/${'x/'.repeat(2100)}${FRESH}`,
          `${this.node}/${FRESH}\0/etc`,
          `${this.node}/with\nnewline-${FRESH}`,
          '',
          'relative/path',
          '../../canary',
          './x',
        ),
      },
      { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((text) => `${this.node}/${text}`) },
      { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
    );
  }

  idArbitrary(): fc.Arbitrary<string> {
    const near = (id: string) =>
      fc.constantFrom(
        id.toUpperCase(),
        id.slice(0, -1),
        `${id}0`,
        `${id}/`,
        `${id}/../${id}`,
        ` ${id}`,
        `${id}\0`,
        `${id.slice(0, -1)}g`,
      );
    return fc.oneof(
      {
        weight: 4,
        arbitrary: fc.constantFrom(
          this.volume,
          this.spareVolume,
          this.xfsVolume,
          this.blockVolume,
          this.snapshot,
        ),
      },
      { weight: 2, arbitrary: fc.oneof(near(this.volume), near(this.snapshot)) },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          '',
          '.',
          '..',
          '../../canary',
          '../../../canary',
          this.canary,
          `vol-${'0'.repeat(32)}`,
          `snap-${'f'.repeat(32)}`,
          `vol-${'0'.repeat(32)}/../../../canary`,
          'fake-vol-id-1',
          'reallyfakesnapshotid',
          'x'.repeat(5000),
        ),
      },
      { weight: 2, arbitrary: fc.string({ maxLength: 80 }) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    );
  }

  /**
   * Mostly a real volume's ID, sometimes anything: a request wrong in one field only gets past
   * the first check and reaches the code behind it. The base volume (staged and published for
   * the whole suite) is left out for stage requests, which would stage it a second time.
   */
  realIdMostly(includeBase = true): fc.Arbitrary<string> {
    const real = [this.spareVolume, this.xfsVolume, this.blockVolume, ...(includeBase ? [this.volume] : [])];
    return fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...real) },
      { weight: 1, arbitrary: this.idArbitrary() },
    );
  }

  /** Makes placeholders real: each run gets paths of its own (a directory for FRESH_DIR). */
  async materialize<T>(request: T): Promise<T> {
    const text = JSON.stringify(request);
    if (!text.includes('<fresh')) return request;
    const replace = async (value: unknown): Promise<unknown> => {
      if (typeof value === 'string') {
        if (!value.includes('<fresh')) return value;
        this.counter += 1;
        const name = `p-${this.counter}`;
        if (value.includes(FRESH_DIR)) {
          const made = value.replace(FRESH_DIR, name);
          // Not recursive: after an interruption the sandbox is gone and must stay gone.
          await mkdir(made).catch(() => undefined);
          return made;
        }
        return value.replace(FRESH, name);
      }
      if (Array.isArray(value)) return Promise.all(value.map(replace));
      if (value !== null && typeof value === 'object') {
        const entries = await Promise.all(
          Object.entries(value).map(async ([key, item]) => [key, await replace(item)] as const),
        );
        return Object.fromEntries(entries);
      }
      return value;
    };
    return (await replace(request)) as T;
  }

  /** Canary unchanged; '' when it is, else what changed (and the canary is put back). */
  async canaryChange(): Promise<string> {
    const now = await snapshotTree(this.canary).catch((error: unknown) => `unreadable: ${String(error)}`);
    if (now === this.canaryState) return '';
    await mkdir(join(this.canary, 'disk.img')).catch(() => undefined);
    await writeFile(join(this.canary, 'meta.json'), '{"keep":"me"}').catch(() => undefined);
    await writeFile(join(this.canary, 'disk.img', 'data'), 'precious').catch(() => undefined);
    return `the canary directory changed: before ${this.canaryState}; after ${now}`;
  }

  /**
   * Puts the base back; when a fault left it beyond repair in place (mounted somewhere else,
   * its filesystem busy), everything is unmounted and detached and the base made again.
   */
  async recover(): Promise<void> {
    if (!this.host.running) await this.host.start();
    await this.scrub();
    try {
      await this.restoreBase();
    } catch {
      await this.scrub(true);
      await this.restoreBase();
    }
  }

  /** The base objects exist and the base volume is staged and published, whatever a run did. */
  async restoreBase(): Promise<void> {
    const client = this.client;
    const exists = (kind: string, id: string) =>
      lstat(join(this.host.pool, kind, id)).then(
        () => true,
        () => false,
      );
    // IDs derive from names: the same request brings back the same ID.
    if (!(await exists('volumes', this.volume)))
      await client.createVolume({
        name: 'hostile-base',
        volume_capabilities: [MOUNT],
        capacity_range: { required_bytes: 64 * MiB },
      });
    if (!(await exists('volumes', this.spareVolume)))
      await client.createVolume({
        name: 'hostile-base-spare',
        volume_capabilities: [MOUNT],
        capacity_range: { required_bytes: 64 * MiB },
      });
    if (!(await exists('volumes', this.xfsVolume)))
      await client.createVolume({
        name: 'hostile-base-xfs',
        volume_capabilities: [{ access_mode: { mode: 'SINGLE_NODE_WRITER' }, mount: { fs_type: 'xfs' } }],
        capacity_range: { required_bytes: 64 * MiB },
      });
    if (!(await exists('volumes', this.blockVolume)))
      await client.createVolume({
        name: 'hostile-base-block',
        volume_capabilities: [{ access_mode: { mode: 'SINGLE_NODE_WRITER' }, block: {} }],
        capacity_range: { required_bytes: 16 * MiB },
      });
    if (!(await exists('snapshots', this.snapshot)))
      await client.createSnapshot({ name: 'hostile-base-snap', source_volume_id: this.volume });
    const mounted = new Set((await readMountInfo()).map((entry) => entry.mountPoint));
    if (!mounted.has(this.staging))
      await client.nodeStageVolume({
        volume_id: this.volume,
        staging_target_path: this.staging,
        volume_capability: MOUNT,
      });
    if (!mounted.has(this.target))
      await client.nodePublishVolume({
        volume_id: this.volume,
        staging_target_path: this.staging,
        target_path: this.target,
        volume_capability: MOUNT,
      });
  }

  /**
   * Removes what a broken call left (mounts below the sandbox other than the base ones, loop
   * devices on pool images other than the base volume's), so later runs start clean. Only
   * things this suite's driver made inside this suite's sandbox.
   */
  async scrub(everything = false): Promise<void> {
    const intended = everything ? { mounts: [], images: [] } : this.intended();
    const keep = new Set(intended.mounts);
    const sandbox = this.host.sandbox.dir;
    const pool = this.host.pool;
    // Rounds: a stray mount over a directory can hide others below it until it goes.
    for (let round = 0; round < 5; round += 1) {
      const stray = (await readMountInfo())
        .filter(
          (entry) =>
            (entry.mountPoint === sandbox || entry.mountPoint.startsWith(`${sandbox}/`)) &&
            entry.id !== this.host.poolMountId &&
            !keep.has(entry.mountPoint),
        )
        .map((entry) => entry.mountPoint)
        .sort((a, b) => b.length - a.length);
      if (stray.length === 0) break;
      for (const point of stray) await sh('umount', ['-l', point]).catch(() => undefined);
    }
    const images = new Set(intended.images);
    const stray = async () =>
      (await listLoops()).filter(
        (loop) => loop.backingFile.startsWith(`${pool}/`) && !images.has(loop.backingFile),
      );
    for (const loop of await stray()) await sh('losetup', ['--detach', loop.name]).catch(() => undefined);
    // A detached device lets go of its image only once nothing holds it open (udev's probe).
    for (let wait = 0; wait < 50 && (await stray()).length > 0; wait += 1)
      await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

class KindError extends Error {
  constructor(
    readonly signature: string,
    message: string,
  ) {
    super(message);
  }
}

/** A problem without its particulars (paths, IDs, devices, numbers, quoted values): its kind. */
function kindOf(problem: string): string {
  return problem
    .replace(/\/tmp\/dolly-test-rel-[^\s'"`,;]*/g, '<path>')
    .replace(/(vol|snap)-[0-9a-f]{32}/g, '<id>')
    .replace(/"[^"]*"/g, '""')
    .replace(/\d+/g, 'N')
    .slice(0, 100);
}

/** A listing of a directory tree: names, types, link targets and content hashes. */
async function snapshotTree(dir: string): Promise<string> {
  const names = (await readdir(dir, { recursive: true })).sort();
  const parts: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const stats = await lstat(path);
    if (stats.isSymbolicLink()) parts.push(`${name}->${await readlink(path)}`);
    else if (stats.isDirectory()) parts.push(`${name}/`);
    else
      parts.push(
        `${name}:${createHash('sha256')
          .update(await readFile(path))
          .digest('hex')
          .slice(0, 12)}`,
      );
  }
  return parts.join(' ');
}

/** One RPC under test: its request generator, how to send it, and how to undo a success. */
interface RpcCase {
  name: string;
  /** A generated request (placeholders in paths), sent and judged; throws a violation. */
  property: (world: HostileWorld) => fc.IAsyncProperty<[unknown]>;
}

/**
 * Builds the property of one RPC: send the generated request; no UNKNOWN or INTERNAL, the
 * driver alive, the canary unchanged, nothing mounted in the pool or over its ancestors; then
 * undo a success, and nothing may be left attached or mounted.
 */
function rpcCase<Request>(
  name: string,
  arbitrary: (world: HostileWorld) => fc.Arbitrary<Request>,
  send: (client: CsiClient, request: Request) => Promise<unknown>,
  undo?: (world: HostileWorld, request: Request, response: unknown) => Promise<Answer | undefined>,
  expect?: (answer: Answer) => string | undefined,
): RpcCase {
  return {
    name,
    property: (world) =>
      fc.asyncProperty(arbitrary(world), async (generated) => {
        if (Date.now() > world.deadline) return;
        const request = await world.materialize(generated);
        const shown = JSON.stringify(request).slice(0, 2000);
        let answer: Answer;
        try {
          world.requests += 1;
          answer = await answerOf(() => send(world.client, request));
        } catch (error) {
          // The client library refused to encode it (e.g. an int64 out of range): nothing was sent.
          if (error instanceof Error && !('code' in error)) return;
          throw error;
        }
        const problems: string[] = [];
        if (isForbiddenCode(answer.code)) problems.push(`${name} answered ${describeAnswer(answer)}`);
        const unexpected = expect?.(answer);
        if (unexpected) problems.push(`${name}: ${unexpected}`);
        if (!world.host.running)
          problems.push(`the driver died (exit signal ${String(world.host.driver.exitSignal)})`);
        problems.push(
          ...(await checkAttachments(world.host, { mounts: [], images: [], writable: [] })).filter(
            (problem) => /inside the pool|ancestor of the pool|over the pool itself/.test(problem),
          ),
        );
        if (answer.ok && undo && world.host.running) {
          world.requests += 1;
          const undone = await undo(world, request, answer.response);
          if (undone && !undone.ok) problems.push(`undoing it failed: ${describeAnswer(undone)}`);
        }
        const canary = await world.canaryChange();
        if (canary) problems.push(canary);
        if (world.host.running)
          problems.push(
            ...(await checkAttachments(world.host, world.intended())).map(
              (problem) => `left behind: ${problem}`,
            ),
          );
        if (problems.length > 0) {
          await world.recover();
          world.fail(problems, `request as sent: ${shown}`);
        }
        await world.recover();
      }),
  };
}

const size = (): fc.Arbitrary<number | string> =>
  fc.oneof(
    fc.constantFrom(-1, 0, 1, 4095, 4096, MiB, 300 * MiB, 2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
    fc.constantFrom('9223372036854775807', '-9223372036854775808'),
  );

const mountFlags = (): fc.Arbitrary<string[]> =>
  fc.array(
    fc.oneof(
      fc.constantFrom(
        'loop',
        'bind',
        'rbind',
        'remount',
        'move',
        'ro',
        'rw',
        'noatime',
        'sync',
        'offset=0',
        'sizelimit=4096',
        'X-mount.mkdir',
        'x-systemd.automount',
        'helper=foo',
        'user',
        'owner',
        'a,b',
        'loop,ro',
        'x\0y',
        '',
        'data=ordered',
        'errors=panic',
        'nouuid',
        'context="system_u:object_r:tmp_t:s0"',
      ),
      fc.string({ maxLength: 20 }),
    ),
    { maxLength: 3 },
  );

const capability = (): fc.Arbitrary<VolumeCapability> =>
  fc.record(
    {
      access_mode: fc.record({
        mode: fc.oneof(
          fc.constantFrom(
            'SINGLE_NODE_WRITER',
            'SINGLE_NODE_READER_ONLY',
            'MULTI_NODE_MULTI_WRITER',
            'UNKNOWN',
            'SINGLE_NODE_MULTI_WRITER',
          ),
          fc.integer({ min: 0, max: 99 }),
        ) as fc.Arbitrary<NonNullable<VolumeCapability['access_mode']>['mode']>,
      }),
      mount: fc.record({
        fs_type: fc.oneof(
          fc.constantFrom('', 'ext4', 'xfs', 'vfat', 'ext4,loop', '../x', 'btrfs'),
          fc.string({ maxLength: 10 }),
        ),
        mount_flags: mountFlags(),
        volume_mount_group: fc.constantFrom('', '', 'root'),
      }),
      block: fc.constant({}),
    },
    { requiredKeys: ['access_mode'] },
  );

/** Mostly a capability Dolly supports (its mount flags still generated), sometimes anything. */
const capabilityMostlyValid = (): fc.Arbitrary<VolumeCapability> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        access_mode: fc.constantFrom(
          { mode: 'SINGLE_NODE_WRITER' as const },
          { mode: 'SINGLE_NODE_READER_ONLY' as const },
        ),
        mount: fc.record({
          fs_type: fc.constantFrom('', 'ext4', 'xfs'),
          mount_flags: fc.oneof(fc.constant<string[]>([]), mountFlags()),
        }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.constant<VolumeCapability>({ access_mode: { mode: 'SINGLE_NODE_WRITER' }, block: {} }),
    },
    { weight: 1, arbitrary: capability() },
  );

const strings = (): fc.Arbitrary<Record<string, string>> =>
  fc.dictionary(
    fc.oneof(
      fc.constantFrom('csi.storage.k8s.io/pvc/name', 'csi.storage.k8s.io/pv/name', 'fsType', '../x', ''),
      fc.string({ maxLength: 20 }),
    ),
    fc.string({ maxLength: 40 }),
    { maxKeys: 3 },
  );

const token = (world: HostileWorld): fc.Arbitrary<string> => fc.oneof(world.idArbitrary(), fc.constant(''));

/** The RPC cases: every RPC of Identity, Controller and Node, every field generated. */
function rpcCases(): RpcCase[] {
  const deleteVolume = async (w: HostileWorld, response: unknown) => {
    const id = (response as { volume?: { volume_id?: string } }).volume?.volume_id ?? '';
    if ([w.volume, w.spareVolume, w.xfsVolume, w.blockVolume].includes(id)) return undefined;
    return answerOf(() => w.client.deleteVolume({ volume_id: id }));
  };
  return [
    rpcCase(
      'GetPluginInfo',
      () => fc.constant({}),
      (client) => client.getPluginInfo(),
    ),
    rpcCase(
      'GetPluginCapabilities',
      () => fc.constant({}),
      (client) => client.getPluginCapabilities(),
    ),
    rpcCase(
      'Probe',
      () => fc.constant({}),
      (client) => client.probe(),
    ),
    rpcCase(
      'CreateVolume',
      (w) =>
        fc.record({
          name: fc.oneof(
            fc.string({ maxLength: 100 }),
            fc.constantFrom('../../canary', w.canary, 'x'.repeat(5000), 'hostile-base', '\0'),
          ),
          capacity_range: fc.option(
            fc.record({ required_bytes: size(), limit_bytes: size() }, { requiredKeys: [] }),
            { nil: null },
          ),
          volume_capabilities: fc.array(capabilityMostlyValid(), { maxLength: 2 }),
          parameters: strings(),
          secrets: strings(),
          volume_content_source: fc.option(
            fc.oneof(
              fc.record({ volume: fc.record({ volume_id: w.idArbitrary() }) }),
              fc.record({ snapshot: fc.record({ snapshot_id: w.idArbitrary() }) }),
            ),
            { nil: null },
          ),
          accessibility_requirements: fc.option(
            fc.record({
              requisite: fc.array(fc.record({ segments: strings() }), { maxLength: 2 }),
              preferred: fc.array(fc.record({ segments: strings() }), { maxLength: 2 }),
            }),
            { nil: null },
          ),
        }),
      (client, request) => client.createVolume(request),
      (w, _request, response) => deleteVolume(w, response),
    ),
    rpcCase(
      'DeleteVolume',
      (w) => fc.record({ volume_id: w.idArbitrary(), secrets: strings() }),
      (client, request) => client.deleteVolume(request),
    ),
    rpcCase(
      'ValidateVolumeCapabilities',
      (w) =>
        fc.record({
          volume_id: w.idArbitrary(),
          volume_context: strings(),
          volume_capabilities: fc.array(capability(), { maxLength: 2 }),
          parameters: strings(),
          secrets: strings(),
        }),
      (client, request) => client.validateVolumeCapabilities(request),
    ),
    rpcCase(
      'ListVolumes',
      (w) => fc.record({ max_entries: fc.integer({ min: -5, max: 5 }), starting_token: token(w) }),
      (client, request) => client.listVolumes(request),
    ),
    rpcCase(
      'GetCapacity',
      () =>
        fc.record({
          volume_capabilities: fc.array(capability(), { maxLength: 2 }),
          parameters: strings(),
          accessible_topology: fc.option(fc.record({ segments: strings() }), { nil: null }),
        }),
      (client, request) => client.getCapacity(request),
    ),
    rpcCase(
      'ControllerGetCapabilities',
      () => fc.constant({}),
      (client) => client.controllerGetCapabilities(),
    ),
    rpcCase(
      'CreateSnapshot',
      (w) =>
        fc.record({
          source_volume_id: w.idArbitrary(),
          name: fc.oneof(
            fc.string({ maxLength: 100 }),
            fc.constantFrom('../../canary', 'hostile-base-snap', 'x'.repeat(5000)),
          ),
          secrets: strings(),
          parameters: strings(),
        }),
      (client, request) => client.createSnapshot(request),
      async (w, _request, response) => {
        const id = (response as { snapshot?: { snapshot_id?: string } }).snapshot?.snapshot_id ?? '';
        return id === w.snapshot ? undefined : answerOf(() => w.client.deleteSnapshot({ snapshot_id: id }));
      },
    ),
    rpcCase(
      'DeleteSnapshot',
      (w) => fc.record({ snapshot_id: w.idArbitrary(), secrets: strings() }),
      (client, request) => client.deleteSnapshot(request),
    ),
    rpcCase(
      'ListSnapshots',
      (w) =>
        fc.record({
          max_entries: fc.integer({ min: -5, max: 5 }),
          starting_token: token(w),
          source_volume_id: token(w),
          snapshot_id: token(w),
          secrets: strings(),
        }),
      (client, request) => client.listSnapshots(request),
    ),
    rpcCase(
      'ControllerExpandVolume',
      (w) =>
        fc.record({
          volume_id: w.idArbitrary(),
          capacity_range: fc.option(
            fc.record({ required_bytes: size(), limit_bytes: size() }, { requiredKeys: [] }),
            { nil: null },
          ),
          secrets: strings(),
          volume_capability: fc.option(capability(), { nil: null }),
        }),
      (client, request) => client.controllerExpandVolume(request),
    ),
    rpcCase(
      'ControllerGetVolume',
      (w) => fc.record({ volume_id: w.idArbitrary() }),
      (client, request) => client.controllerGetVolume(request),
    ),
    rpcCase(
      'NodeGetCapabilities',
      () => fc.constant({}),
      (client) => client.nodeGetCapabilities(),
    ),
    rpcCase(
      'NodeGetInfo',
      () => fc.constant({}),
      (client) => client.nodeGetInfo(),
    ),
    rpcCase(
      'NodeStageVolume',
      (w) =>
        fc.record({
          volume_id: w.realIdMostly(false),
          publish_context: strings(),
          staging_target_path: w.pathArbitrary(),
          volume_capability: fc.option(capabilityMostlyValid(), { nil: null, freq: 10 }),
          secrets: strings(),
          volume_context: strings(),
        }),
      (client, request) => client.nodeStageVolume(request),
      undoStage,
    ),
    // One field hostile, the rest right: each finds its own kind of fault, which the
    // every-field property above would hide behind its first counterexample.
    rpcCase(
      'NodeStageVolume: staging paths',
      (w) =>
        w.pathArbitrary().map((path) => ({
          volume_id: w.spareVolume,
          staging_target_path: path,
          volume_capability: MOUNT,
        })),
      (client, request) => client.nodeStageVolume(request),
      undoStage,
    ),
    rpcCase(
      'NodeStageVolume: mount flags',
      (w) =>
        mountFlags().map((flags) => ({
          volume_id: w.spareVolume,
          staging_target_path: `${w.node}/${FRESH_DIR}`,
          volume_capability: { ...MOUNT, mount: { fs_type: 'ext4', mount_flags: flags } },
        })),
      (client, request) => client.nodeStageVolume(request),
      undoStage,
    ),
    rpcCase(
      'NodePublishVolume: target paths',
      (w) =>
        w.pathArbitrary().map((path) => ({
          volume_id: w.volume,
          staging_target_path: w.staging,
          target_path: path,
          volume_capability: MOUNT,
        })),
      (client, request) => client.nodePublishVolume(request),
      undoPublish,
    ),
    rpcCase(
      'NodePublishVolume: mount flags',
      (w) =>
        mountFlags().map((flags) => ({
          volume_id: w.volume,
          staging_target_path: w.staging,
          target_path: `${w.node}/${FRESH}`,
          volume_capability: { ...MOUNT, mount: { fs_type: 'ext4', mount_flags: flags } },
        })),
      (client, request) => client.nodePublishVolume(request),
      undoPublish,
    ),
    rpcCase(
      'NodeUnstageVolume',
      (w) => fc.record({ volume_id: w.idArbitrary(), staging_target_path: w.pathArbitrary() }),
      (client, request) => client.nodeUnstageVolume(request),
    ),
    rpcCase(
      'NodePublishVolume',
      (w) =>
        fc.record({
          volume_id: fc.oneof(
            { weight: 3, arbitrary: fc.constant(w.volume) },
            { weight: 2, arbitrary: w.idArbitrary() },
          ),
          publish_context: strings(),
          staging_target_path: fc.oneof(
            { weight: 3, arbitrary: fc.constant(w.staging) },
            { weight: 2, arbitrary: w.pathArbitrary() },
          ),
          target_path: w.pathArbitrary(),
          volume_capability: fc.option(capabilityMostlyValid(), { nil: null, freq: 10 }),
          readonly: fc.boolean(),
          secrets: strings(),
          volume_context: strings(),
        }),
      (client, request) => client.nodePublishVolume(request),
      undoPublish,
    ),
    rpcCase(
      'NodeUnpublishVolume',
      (w) => fc.record({ volume_id: w.idArbitrary(), target_path: w.pathArbitrary() }),
      (client, request) => client.nodeUnpublishVolume(request),
    ),
    rpcCase(
      'NodeGetVolumeStats',
      (w) =>
        fc.record({
          volume_id: w.realIdMostly(),
          volume_path: fc.oneof(fc.constant(w.target), w.pathArbitrary()),
          staging_target_path: w.pathArbitrary(),
        }),
      (client, request) => client.nodeGetVolumeStats(request),
    ),
    rpcCase(
      'NodeExpandVolume',
      (w) =>
        fc.record({
          volume_id: w.realIdMostly(),
          volume_path: fc.oneof(fc.constant(w.target), w.pathArbitrary()),
          capacity_range: fc.option(
            fc.record({ required_bytes: size(), limit_bytes: size() }, { requiredKeys: [] }),
            { nil: null },
          ),
          staging_target_path: w.pathArbitrary(),
          volume_capability: fc.option(capability(), { nil: null }),
          secrets: strings(),
        }),
      (client, request) => client.nodeExpandVolume(request),
    ),
  ];
}

/** After a successful stage: the identical retry must succeed too (idempotency), then the unstage. */
async function undoStage(
  w: HostileWorld,
  request: { volume_id?: string; staging_target_path?: string },
): Promise<Answer | undefined> {
  // Staging again where the base volume is staged is the base itself: nothing to undo.
  if (request.staging_target_path === w.staging && request.volume_id === w.volume) return undefined;
  const unstage = () =>
    w.client.nodeUnstageVolume({
      volume_id: request.volume_id,
      staging_target_path: request.staging_target_path,
    });
  const retry = await answerOf(() => w.client.nodeStageVolume(request));
  if (!retry.ok) {
    await answerOf(unstage);
    return { ...retry, message: `the identical retry of a successful stage: ${retry.message}` };
  }
  return answerOf(unstage);
}

/** After a successful publish: the identical retry must succeed too, then the unpublish. */
async function undoPublish(
  w: HostileWorld,
  request: { volume_id?: string; target_path?: string },
): Promise<Answer | undefined> {
  if (request.target_path === w.target) return undefined;
  const unpublish = () =>
    w.client.nodeUnpublishVolume({ volume_id: request.volume_id, target_path: request.target_path });
  const retry = await answerOf(() => w.client.nodePublishVolume(request));
  if (!retry.ok) {
    await answerOf(unpublish);
    return { ...retry, message: `the identical retry of a successful publish: ${retry.message}` };
  }
  return answerOf(unpublish);
}

/**
 * The CSI spec's answers for an ID that is the ID of nothing (Dolly never issued it, or issued
 * and deleted it): deletes are OK; lookups and sources are NOT_FOUND. Required fields filled,
 * so the only thing wrong with each request is that its object does not exist.
 */
function foreignIdCase(world: HostileWorld): RpcCase {
  const dolly = /^(vol|snap)-[0-9a-f]{32}$/;
  const foreignId = fc.oneof(
    fc.constantFrom(
      'fake-vol-id-1',
      'reallyfakesnapshotid',
      `vol-${'0'.repeat(32)}`,
      `snap-${'0'.repeat(32)}`,
    ),
    fc.stringMatching(/^[a-zA-Z0-9._-]{1,64}$/).filter((id) => !dolly.test(id)),
  );
  const calls: {
    rpc: string;
    expected: status;
    send: (client: CsiClient, id: string) => Promise<unknown>;
  }[] = [
    {
      rpc: 'DeleteVolume',
      expected: status.OK,
      send: (client, id) => client.deleteVolume({ volume_id: id }),
    },
    {
      rpc: 'DeleteSnapshot',
      expected: status.OK,
      send: (client, id) => client.deleteSnapshot({ snapshot_id: id }),
    },
    {
      rpc: 'CreateVolume from that volume',
      expected: status.NOT_FOUND,
      send: (client, id) =>
        client.createVolume({
          name: `from-${id}`,
          volume_capabilities: [MOUNT],
          volume_content_source: { volume: { volume_id: id } },
        }),
    },
    {
      rpc: 'CreateVolume from that snapshot',
      expected: status.NOT_FOUND,
      send: (client, id) =>
        client.createVolume({
          name: `restore-${id}`,
          volume_capabilities: [MOUNT],
          volume_content_source: { snapshot: { snapshot_id: id } },
        }),
    },
    {
      rpc: 'ValidateVolumeCapabilities',
      expected: status.NOT_FOUND,
      send: (client, id) =>
        client.validateVolumeCapabilities({ volume_id: id, volume_capabilities: [MOUNT] }),
    },
    {
      rpc: 'ControllerExpandVolume',
      expected: status.NOT_FOUND,
      send: (client, id) =>
        client.controllerExpandVolume({ volume_id: id, capacity_range: { required_bytes: 128 * MiB } }),
    },
    {
      rpc: 'NodeGetVolumeStats',
      expected: status.NOT_FOUND,
      send: (client, id) => client.nodeGetVolumeStats({ volume_id: id, volume_path: world.target }),
    },
    {
      rpc: 'NodeExpandVolume',
      expected: status.NOT_FOUND,
      send: (client, id) =>
        client.nodeExpandVolume({
          volume_id: id,
          volume_path: world.target,
          capacity_range: { required_bytes: 128 * MiB },
        }),
    },
    {
      rpc: 'NodeGetVolumeStats of a path that does not exist',
      expected: status.NOT_FOUND,
      send: (client) => client.nodeGetVolumeStats({ volume_id: world.volume, volume_path: 'some/path' }),
    },
  ];
  return {
    name: 'IDs that are not Dolly’s get the spec’s answers',
    property: (w) =>
      fc.asyncProperty(foreignId, async (id) => {
        if (Date.now() > w.deadline) return;
        const wrong: string[] = [];
        for (const call of calls) {
          w.requests += 1;
          const answer = await answerOf(() => call.send(w.client, id));
          if (answer.code !== call.expected)
            wrong.push(
              `${call.rpc}(${JSON.stringify(id)}) answered ${describeAnswer(answer)}; the spec says ${codeName(call.expected)}`,
            );
        }
        if (wrong.length > 0) w.fail(wrong, '');
      }),
  };
}

async function runProperty(world: HostileWorld, rpc: RpcCase, context: SuiteContext): Promise<CheckRow> {
  const before = world.requests;
  const violations: string[] = [];
  world.known.clear();
  // Shrinking replays real calls; past the deadline the smallest counterexample so far is reported.
  world.deadline = Date.now() + (context.quick ? 8_000 : 120_000);
  let runs = 0;
  // Each round reports one new kind of failure, shrunk; the next round looks past the known ones.
  for (let round = 0; round < (context.quick ? 4 : 8) && Date.now() < world.deadline; round += 1) {
    const details = await fc.check(rpc.property(world), {
      seed: context.seed + round,
      numRuns: context.quick ? 60 : 600,
    });
    runs += details.numRuns;
    if (!details.failed) break;
    const error = details.errorInstance;
    if (!(error instanceof KindError)) {
      violations.push(
        `the property itself failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
      break;
    }
    world.known.add(error.signature);
    violations.push(
      `${error.message}\n  shrunk counterexample (${details.numShrinks} shrinks, seed ${details.seed}, path "${details.counterexamplePath ?? ''}"): ${fc.stringify(details.counterexample)}`,
    );
  }
  context.log(`hostile-input: ${rpc.name}: ${runs} runs, ${violations.length} kind(s) of failure`);
  return {
    suite: 'hostile-input',
    check: rpc.name,
    injections: 0,
    requests: world.requests - before,
    violations,
  };
}
