import { readFileSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import type { CsiClient } from '../src/client/csi-client.js';
import type { VolumeCapability } from '../src/generated/csi/v1/VolumeCapability.js';
import { writePattern } from '../test/helpers/csi.js';
import type { Answer } from './answer.js';
import { codeName, describeAnswer, isForbiddenCode, untilAnswered } from './answer.js';
import type { Fingerprint } from './data.js';
import { Writer, fingerprint, hashRange, physicalExtents, sameContentIn } from './data.js';
import type { Intended } from './invariants.js';
import type { PoolHost } from './pool-host.js';
import type { Random } from './random.js';
import { imageInSync } from '../src/pool/layout.js';

export const MiB = 1024 * 1024;
/** Bytes at the start of a fresh volume that the harness fills with a known pattern. */
const PATTERN_BYTES = MiB;
/** Size of the reference file written inside a published volume before any writer starts. */
const REFERENCE_BYTES = 4 * MiB;

const capability: VolumeCapability = {
  access_mode: { mode: 'SINGLE_NODE_WRITER' },
  mount: { fs_type: 'ext4' },
};

/** What the harness knows about one volume Dolly has answered for. */
/** CAP_SYS_RESOURCE (bit 24) in this process's effective set; the driver it starts inherits it. */
const HAS_CAP_SYS_RESOURCE = (() => {
  const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return line !== undefined && (BigInt(`0x${line}`) & (1n << 24n)) !== 0n;
})();

export interface VolumeState {
  id: string;
  name: string;
  sizeBytes: number;
  /** How it came to be, for messages: "created", "clone of vol-…", "restore of snap-…". */
  origin: string;
  /** Known content (checked whenever it is not staged, or always when `stable`); undefined: unknown. */
  content: Fingerprint[] | undefined;
  /** The known content lies where nothing writes, so it holds while the volume is in use too. */
  stable: boolean;
  /** Created empty and never written: the harness writes its pattern at the next quiet moment. */
  fresh: boolean;
  staging: string | undefined;
  target: string | undefined;
  writer: Writer | undefined;
}

export interface SnapshotState {
  id: string;
  name: string;
  sourceId: string;
  sizeBytes: number;
  content: Fingerprint[] | undefined;
}

/** One mutating call, what it may answer, and what an OK answer changes. */
export interface Operation {
  label: string;
  /** Objects (IDs or names) no other call of the same step may touch. */
  exclusive: string[];
  /** Objects other calls of the step may read too, but not change. */
  shared: string[];
  /** Codes that are right for this call (OK included when it should succeed). */
  expected: status[];
  /** Runs before the call (stop a writer before its volume is unpublished). */
  prepare?: () => Promise<void>;
  send: (client: CsiClient) => Promise<unknown>;
  /** Applies the final answer to the model. */
  apply: (answer: Answer) => Promise<void> | void;
}

/**
 * The model of what exists: volumes, snapshots, what is staged and published, and the content
 * the harness knows. Operations are built from it, and their answers keep it current.
 */
export class World {
  readonly volumes = new Map<string, VolumeState>();
  readonly snapshots = new Map<string, SnapshotState>();
  private counter = 0;
  /** RPCs sent through run() (retries included). */
  requests = 0;
  /** Calls that got no answer at first (the driver was killed under them) and were sent again. */
  retried = 0;

  constructor(
    readonly host: PoolHost,
    /** Prefix of every name, so two worlds on one driver never collide. */
    private readonly prefix: string,
    readonly volumeBytes = 32 * MiB,
  ) {}

  private next(kind: string): string {
    this.counter += 1;
    return `${this.prefix}-${kind}-${this.counter}`;
  }

  private image(id: string, kind: 'volumes' | 'snapshots' = 'volumes'): string {
    return imageInSync(join(this.host.pool, kind, id));
  }

  /** Content a copy of this volume gets: known only when nothing could be writing to it. */
  private copyableContent(volume: VolumeState): Fingerprint[] | undefined {
    if (volume.staging !== undefined && !volume.stable) return undefined;
    return volume.content;
  }

  private retarget(
    content: Fingerprint[] | undefined,
    label: string,
    path: string,
  ): Fingerprint[] | undefined {
    return content?.map((part) => sameContentIn(part, label, path));
  }

  private addVolume(
    response: unknown,
    origin: string,
    content: Fingerprint[] | undefined,
    fresh: boolean,
  ): void {
    const volume = (response as { volume?: { volume_id?: string; capacity_bytes?: string | number } }).volume;
    const id = volume?.volume_id ?? '';
    const label = `${id} (${origin})`;
    this.volumes.set(id, {
      id,
      name: origin,
      sizeBytes: Number(volume?.capacity_bytes ?? 0),
      origin,
      content: this.retarget(content, label, this.image(id)),
      stable: false,
      fresh,
      staging: undefined,
      target: undefined,
      writer: undefined,
    });
  }

  createVolume(sizeBytes = this.volumeBytes): Operation {
    const name = this.next('vol');
    return {
      label: `CreateVolume ${name} (${sizeBytes / MiB} MiB)`,
      exclusive: [name],
      shared: [],
      expected: [status.OK],
      send: (client) =>
        client.createVolume({
          name,
          volume_capabilities: [capability],
          capacity_range: { required_bytes: sizeBytes },
        }),
      apply: (answer) => {
        if (answer.ok) this.addVolume(answer.response, `created as ${name}`, undefined, true);
      },
    };
  }

  cloneVolume(
    source: VolumeState,
    extraBytes = 0,
    expected = [status.OK],
    consistency: Consistency = 'frozen',
  ): Operation {
    const name = this.next('clone');
    const content = this.copyableContent(source);
    return {
      label: `CreateVolume ${name} from volume ${source.id}${extraBytes > 0 ? ` (+${extraBytes / MiB} MiB)` : ''}${consistencyLabel(consistency)}`,
      exclusive: [name],
      shared: [source.id],
      expected,
      send: (client) =>
        client.createVolume({
          name,
          volume_capabilities: [capability],
          capacity_range: extraBytes > 0 ? { required_bytes: source.sizeBytes + extraBytes } : null,
          volume_content_source: { volume: { volume_id: source.id } },
          parameters: consistencyParameters(consistency),
        }),
      apply: (answer) => {
        if (answer.ok) this.addVolume(answer.response, `clone of ${source.id}`, content, false);
      },
    };
  }

  createSnapshot(
    source: VolumeState,
    expected = [status.OK],
    consistency: Consistency = 'frozen',
  ): Operation {
    const name = this.next('snap');
    const content = this.copyableContent(source);
    return {
      label: `CreateSnapshot ${name} of ${source.id}${consistencyLabel(consistency)}`,
      exclusive: [name],
      shared: [source.id],
      expected,
      send: (client) =>
        client.createSnapshot({
          name,
          source_volume_id: source.id,
          parameters: consistencyParameters(consistency),
        }),
      apply: (answer) => {
        if (!answer.ok) return;
        const snapshot = (
          answer.response as { snapshot?: { snapshot_id?: string; size_bytes?: string | number } }
        ).snapshot;
        const id = snapshot?.snapshot_id ?? '';
        this.snapshots.set(id, {
          id,
          name,
          sourceId: source.id,
          sizeBytes: Number(snapshot?.size_bytes ?? 0),
          content: this.retarget(content, `${id} (snapshot of ${source.id})`, this.image(id, 'snapshots')),
        });
      },
    };
  }

  restoreSnapshot(snapshot: SnapshotState, expected = [status.OK]): Operation {
    const name = this.next('restore');
    return {
      label: `CreateVolume ${name} from snapshot ${snapshot.id}`,
      exclusive: [name],
      shared: [snapshot.id],
      expected,
      send: (client) =>
        client.createVolume({
          name,
          volume_capabilities: [capability],
          volume_content_source: { snapshot: { snapshot_id: snapshot.id } },
        }),
      apply: (answer) => {
        if (answer.ok) this.addVolume(answer.response, `restore of ${snapshot.id}`, snapshot.content, false);
      },
    };
  }

  expandVolume(volume: VolumeState, extraBytes = 8 * MiB, expected = [status.OK]): Operation {
    const sizeBytes = volume.sizeBytes + extraBytes;
    return {
      label: `ControllerExpandVolume ${volume.id} to ${sizeBytes / MiB} MiB`,
      exclusive: [volume.id],
      shared: [],
      expected,
      send: (client) =>
        client.controllerExpandVolume({
          volume_id: volume.id,
          capacity_range: { required_bytes: sizeBytes },
        }),
      apply: (answer) => {
        // The pattern lies at the start: growing keeps it; the new end is a hole.
        if (answer.ok)
          volume.sizeBytes = Math.max(
            volume.sizeBytes,
            Number((answer.response as { capacity_bytes?: string }).capacity_bytes),
          );
      },
    };
  }

  /**
   * Grows the staged filesystem to the image's size (what the CO does after a controller
   * expansion). The harness's volumes are ext4, which grows online only with CAP_SYS_RESOURCE;
   * without it (as on this project's CI machines, root or not) the driver's answer is
   * FAILED_PRECONDITION saying so, and that is right.
   */
  nodeExpandVolume(
    volume: VolumeState,
    expected = HAS_CAP_SYS_RESOURCE ? [status.OK] : [status.OK, status.FAILED_PRECONDITION],
  ): Operation {
    const path = volume.target ?? volume.staging ?? '';
    return {
      label: `NodeExpandVolume ${volume.id} at ${path}`,
      exclusive: [volume.id],
      shared: [],
      expected,
      send: (client) =>
        client.nodeExpandVolume({
          volume_id: volume.id,
          volume_path: path,
          staging_target_path: volume.staging ?? '',
          capacity_range: { required_bytes: volume.sizeBytes },
        }),
      apply: () => undefined,
    };
  }

  deleteVolume(volume: VolumeState): Operation {
    const inUse = volume.staging !== undefined;
    return {
      label: `DeleteVolume ${volume.id}${inUse ? ' (staged: must be refused)' : ''}`,
      exclusive: [volume.id],
      shared: [],
      expected: inUse ? [status.FAILED_PRECONDITION] : [status.OK],
      send: (client) => client.deleteVolume({ volume_id: volume.id }),
      apply: (answer) => {
        if (answer.ok) this.volumes.delete(volume.id);
      },
    };
  }

  deleteSnapshot(snapshot: SnapshotState): Operation {
    return {
      label: `DeleteSnapshot ${snapshot.id}`,
      exclusive: [snapshot.id],
      shared: [],
      expected: [status.OK],
      send: (client) => client.deleteSnapshot({ snapshot_id: snapshot.id }),
      apply: (answer) => {
        if (answer.ok) this.snapshots.delete(snapshot.id);
      },
    };
  }

  stageVolume(volume: VolumeState): Operation {
    const staging = this.host.sandbox.path('node', this.next('staging'));
    return {
      label: `NodeStageVolume ${volume.id} at ${staging}`,
      exclusive: [volume.id],
      shared: [],
      expected: [status.OK],
      prepare: async () => {
        await mkdir(staging);
      },
      send: (client) =>
        client.nodeStageVolume({
          volume_id: volume.id,
          staging_target_path: staging,
          volume_capability: capability,
        }),
      apply: (answer) => {
        if (!answer.ok) return;
        volume.staging = staging;
        volume.fresh = false;
        if (!volume.stable) volume.content = undefined;
      },
    };
  }

  publishVolume(volume: VolumeState, startWriter: boolean): Operation {
    const target = this.host.sandbox.path('node', this.next('target'));
    const staging = volume.staging ?? '';
    return {
      label: `NodePublishVolume ${volume.id} at ${target}`,
      exclusive: [volume.id],
      shared: [],
      expected: [status.OK],
      send: (client) =>
        client.nodePublishVolume({
          volume_id: volume.id,
          staging_target_path: staging,
          target_path: target,
          volume_capability: capability,
        }),
      apply: (answer) => {
        if (!answer.ok) return;
        volume.target = target;
        if (startWriter) volume.writer = Writer.start(join(target, 'writer.dat'));
      },
    };
  }

  unpublishVolume(volume: VolumeState): Operation {
    const target = volume.target ?? '';
    return {
      label: `NodeUnpublishVolume ${volume.id} at ${target}`,
      exclusive: [volume.id],
      shared: [],
      expected: [status.OK],
      prepare: async () => {
        await volume.writer?.stop();
        volume.writer = undefined;
      },
      send: (client) => client.nodeUnpublishVolume({ volume_id: volume.id, target_path: target }),
      apply: (answer) => {
        if (answer.ok) volume.target = undefined;
      },
    };
  }

  unstageVolume(volume: VolumeState): Operation {
    const staging = volume.staging ?? '';
    return {
      label: `NodeUnstageVolume ${volume.id} at ${staging}`,
      exclusive: [volume.id],
      shared: [],
      expected: [status.OK],
      send: (client) => client.nodeUnstageVolume({ volume_id: volume.id, staging_target_path: staging }),
      apply: (answer) => {
        if (answer.ok) volume.staging = undefined;
      },
    };
  }

  /**
   * A random mutating call that does not conflict with the calls already in `step`; undefined
   * when none fits. The mix keeps the pool at a few dozen objects and a few volumes in use.
   */
  randomOperation(random: Random, step: Reservations): Operation | undefined {
    const free = <T extends { id: string }>(items: Iterable<T>) =>
      [...items].filter((item) => !step.changing.has(item.id));
    const volumes = free(this.volumes.values());
    const idle = volumes.filter((volume) => volume.staging === undefined);
    const staged = volumes.filter((volume) => volume.staging !== undefined && volume.target === undefined);
    const published = volumes.filter((volume) => volume.target !== undefined);
    const inUse = [...this.volumes.values()].filter((volume) => volume.staging !== undefined).length;
    const snapshots = free(this.snapshots.values());
    const crowded = this.volumes.size > 24;
    const choices: [number, () => Operation][] = [
      [crowded ? 1 : 4, () => this.createVolume()],
      [
        crowded ? 1 : 5,
        () =>
          this.cloneVolume(
            random.pick(volumes),
            random.chance(0.3) ? 16 * MiB : 0,
            [status.OK],
            random.chance(0.3) ? 'crash' : 'frozen',
          ),
      ],
      [
        this.snapshots.size > 12 ? 1 : 4,
        () => this.createSnapshot(random.pick(volumes), [status.OK], random.chance(0.3) ? 'crash' : 'frozen'),
      ],
      [crowded ? 0 : 3, () => this.restoreSnapshot(random.pick(snapshots))],
      [3, () => this.expandVolume(random.pick(volumes))],
      [crowded ? 8 : 3, () => this.deleteVolume(random.pick(random.chance(0.9) ? idle : volumes))],
      [this.snapshots.size > 8 ? 4 : 1, () => this.deleteSnapshot(random.pick(snapshots))],
      [inUse < 4 ? 3 : 0, () => this.stageVolume(random.pick(idle))],
      [3, () => this.publishVolume(random.pick(staged), random.chance(0.7))],
      [2, () => this.unpublishVolume(random.pick(published))],
      [2, () => this.unstageVolume(random.pick(staged))],
    ];
    const total = choices.reduce((sum, [weight]) => sum + weight, 0);
    for (let attempt = 0; attempt < 20; attempt += 1) {
      let draw = random.int(0, total - 1);
      const choice = choices.find(([weight]) => (draw -= weight) < 0);
      let operation: Operation | undefined;
      try {
        operation = choice?.[1]();
      } catch {
        // pick from an empty list: that kind of call has no target now; draw again.
      }
      if (operation && step.admit(operation)) return operation;
    }
    return undefined;
  }

  /** Up to `count` random calls that can run at the same time (no object changed by two). */
  randomStep(random: Random, count: number): Operation[] {
    const reservations = new Reservations();
    const step: Operation[] = [];
    for (let i = 0; i < count; i += 1) {
      const operation = this.randomOperation(random, reservations);
      if (operation) step.push(operation);
    }
    return step;
  }

  /**
   * Sends one call (from client `clientIndex`) until it is answered, and returns a violation
   * when the answer is not one of the expected codes. Applies the answer to the model.
   */
  async run(
    operation: Operation,
    clientIndex = 0,
  ): Promise<{ answer: Answer; violation: string | undefined }> {
    await operation.prepare?.();
    let attempts = 0;
    const answer = await untilAnswered(() => operation.send(this.host.client(clientIndex)), {
      onAttempt: () => {
        this.requests += 1;
        attempts += 1;
      },
    });
    if (attempts > 1) this.retried += 1;
    await operation.apply(answer);
    return { answer, violation: judge(operation.label, answer, operation.expected) };
  }

  /** Runs a setup call that must succeed (the suite cannot go on otherwise). */
  async must(operation: Operation): Promise<void> {
    const { violation } = await this.run(operation);
    if (violation) throw new Error(`setup failed: ${violation}`);
  }

  /**
   * A new volume, staged and published, with a reference file written and synced inside it
   * before any writer starts. Its content is known where that file lies on the device (FIEMAP),
   * which no later write touches: every clone, snapshot and restore must hold the same bytes
   * there, whatever is written beside it.
   */
  async publishedWithReference(): Promise<VolumeState> {
    await this.must(this.createVolume());
    const source = [...this.volumes.values()].at(-1);
    if (!source) throw new Error('no volume');
    await this.must(this.stageVolume(source));
    await this.must(this.publishVolume(source, false));
    const reference = join(source.target ?? '', 'reference.dat');
    await (await open(reference, 'w')).close();
    await writePattern(reference, 0, REFERENCE_BYTES, `reference-${source.id}`);
    const image = this.image(source.id);
    const content: Fingerprint[] = [];
    for (const { offset, length } of await physicalExtents(reference)) {
      content.push(
        await fingerprint(
          `${source.id} (${source.origin}), reference.dat at ${offset}`,
          image,
          offset,
          length,
        ),
      );
    }
    // The ranges must really hold the file, or every comparison made with them would be void.
    const total = content.reduce((sum, part) => sum + part.length, 0);
    const whole = content.length === 1 ? content[0]?.sha256 : undefined;
    if (
      total !== REFERENCE_BYTES ||
      (whole !== undefined && whole !== (await hashRange(reference, 0, REFERENCE_BYTES)))
    )
      throw new Error(`reference.dat's extents (${total} bytes) do not hold the file`);
    source.content = content;
    source.stable = true;
    return source;
  }

  /** What is staged and published on purpose right now. */
  intended(): Intended {
    const volumes = [...this.volumes.values()];
    return {
      mounts: volumes
        .flatMap((volume) => [volume.staging, volume.target])
        .filter((path) => path !== undefined),
      images: volumes.filter((volume) => volume.staging !== undefined).map((volume) => this.image(volume.id)),
      writable: volumes.map((volume) => volume.target).filter((path) => path !== undefined),
    };
  }

  /** Known content that must be there now. */
  fingerprints(): Fingerprint[] {
    const volumes = [...this.volumes.values()].filter(
      (volume) => volume.staging === undefined || volume.stable,
    );
    return [
      ...volumes.flatMap((volume) => volume.content ?? []),
      ...[...this.snapshots.values()].flatMap((snapshot) => snapshot.content ?? []),
    ];
  }

  /**
   * At a quiet moment (every call answered, invariants checked): fresh volumes get the pattern,
   * and objects whose content became unknown (copied while in use, unstaged) are read once, so
   * that from now on they must not change.
   */
  async settle(): Promise<void> {
    for (const volume of this.volumes.values()) {
      if (volume.staging !== undefined || volume.content !== undefined) continue;
      const image = this.image(volume.id);
      const label = `${volume.id} (${volume.origin})`;
      if (volume.fresh) await writePattern(image, 0, PATTERN_BYTES, volume.id);
      volume.fresh = false;
      volume.content = [await fingerprint(label, image, 0, PATTERN_BYTES)];
    }
    for (const snapshot of this.snapshots.values()) {
      if (snapshot.content !== undefined) continue;
      const image = this.image(snapshot.id, 'snapshots');
      snapshot.content = [
        await fingerprint(`${snapshot.id} (snapshot of ${snapshot.sourceId})`, image, 0, PATTERN_BYTES),
      ];
    }
  }

  /** Stops every writer (before the sandbox goes). */
  async stopWriters(): Promise<void> {
    for (const volume of this.volumes.values()) {
      await volume.writer?.stop();
      volume.writer = undefined;
    }
  }
}

/**
 * How a copy of a volume in use is taken (dolly.csi.dev/consistency): some random copies are
 * crash-consistent, so that copies without a freeze meet the same faults and invariants.
 */
type Consistency = 'frozen' | 'crash';

function consistencyParameters(consistency: Consistency): Record<string, string> {
  return consistency === 'crash' ? { 'dolly.csi.dev/consistency': 'crash' } : {};
}

function consistencyLabel(consistency: Consistency): string {
  return consistency === 'crash' ? ' (crash-consistent)' : '';
}

/** A violation when the answer is not among the expected codes (UNKNOWN and INTERNAL never are). */
export function judge(label: string, answer: Answer, expected: status[]): string | undefined {
  if (expected.includes(answer.code) && !isForbiddenCode(answer.code)) return undefined;
  return `${label}: answered ${describeAnswer(answer)}; expected ${expected.map(codeName).join(' or ')}`;
}

/** Objects the calls of one step change or read: a call that changes one runs alone on it. */
export class Reservations {
  readonly changing = new Set<string>();
  readonly reading = new Set<string>();

  /** Reserves the call's objects when it conflicts with none already reserved. */
  admit(operation: Operation): boolean {
    if (operation.exclusive.some((id) => this.changing.has(id) || this.reading.has(id))) return false;
    if (operation.shared.some((id) => this.changing.has(id))) return false;
    for (const id of operation.exclusive) this.changing.add(id);
    for (const id of operation.shared) this.reading.add(id);
    return true;
  }
}
