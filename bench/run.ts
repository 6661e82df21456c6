/**
 * `npm run bench [-- --quick] [--only <case,...>] [...]`: the benchmark suite of issue 10.
 *
 * Every figure is taken through the real CSI socket of a spawned `dolly serve`, on loop-mounted
 * pools this run makes in its own temporary directories (one per backend: XFS reflink=1 and
 * btrfs) and removes whatever happens; each figure sits next to its baseline measured in the
 * same run (a full copy, the pool filesystem itself, a re-implementation of the CSI hostpath
 * driver), so the ratios hold on a noisy machine. Prints a table per case and the targets with
 * met / not met, writes bench/results/<name>.json, <name>.md (the same tables in Markdown) and the
 * charts bench/results/<name>-*.svg.
 * Exits 1 when a case failed (an unmet target is a result, not a failure).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CASES } from './cases/index.js';
import type { BenchOptions, CaseContext } from './lib/case.js';
import { writeChart } from './lib/charts.js';
import { cleanupAll } from './lib/cleanup.js';
import {
  backendInfo,
  describeDriver,
  describeMachine,
  driverInfo,
  machineInfo,
  missingTools,
  REQUIRED_TOOLS,
} from './lib/env.js';
import { markdownReport } from './lib/markdown.js';
import { BACKENDS } from './lib/pools.js';
import type { Backend } from './lib/pools.js';
import { renderCase, renderTargets } from './lib/report.js';
import { CaseRecorder } from './lib/result.js';
import type { CaseResult } from './lib/result.js';
import { GiB, parseBytes, parseCount } from './lib/units.js';
import { World } from './lib/world.js';

const RESULTS = fileURLToPath(new URL('../../bench/results', import.meta.url));

const list =
  <T>(parse: (text: string) => T) =>
  (value: string): T[] => {
    try {
      return value.split(',').map(parse);
    } catch (error) {
      throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
    }
  };
const positive = (value: string): number => {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number <= 0) throw new InvalidArgumentError('a positive integer');
  return number;
};
const backend = (value: string): Backend => {
  if (!(BACKENDS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`one of ${BACKENDS.join(', ')}`);
  return value as Backend;
};

const program = new Command('bench')
  .description('the Dolly benchmark suite (run as root)')
  .option('--quick', 'small sizes, every case once: under a minute, for CI', false)
  .option('--only <cases>', `comma-separated cases: ${CASES.map((c) => c.name).join(', ')}`, list(String))
  .option('--backends <list>', 'pool filesystems (default: xfs,btrfs)', list(backend))
  .option('--name <name>', 'results file name: bench/results/<name>.json (default: quick or full)')
  .option('--out <dir>', 'results directory', RESULTS)
  .option('--repeat <n>', 'clones and snapshots timed per point (p50 reported)', positive)
  .option('--data-sizes <list>', 'clone-size: data in the source (e.g. 64M,1G,32G)', list(parseBytes))
  .option('--files <list>', 'clone-files: file counts (e.g. 1,100,100k)', list(parseCount))
  .option('--volume-sizes <list>', 'clone-volsize: volume sizes (e.g. 1G,1T)', list(parseBytes))
  .option('--history <list>', 'clone-history: scattered 4 KiB writes (e.g. 0,1k,10k,1m)', list(parseCount))
  .option('--stall-history <list>', 'writer-stall: writes of history (e.g. 10k,50k)', list(parseCount))
  .option('--space-data <size>', 'space: data in the source of the 10 clones', parseBytes)
  .option('--rate-ops <n>', 'control-rates: operations per measurement', positive)
  .option('--startup-volumes <n>', 'startup: volumes in the pool', positive)
  .option('--fio-runtime <s>', 'fio: seconds per job', positive)
  .option('--fio-size <size>', 'fio: file size per job', parseBytes)
  .option('--fio-repeat <n>', 'fio: runs per job and side (median reported)', positive)
  .addOption(new Option('--dd-limit <size>', 'largest image dd copies').argParser(parseBytes))
  .parse();

interface CliOptions {
  quick: boolean;
  only?: string[];
  backends?: Backend[];
  name?: string;
  out: string;
  repeat?: number;
  dataSizes?: number[];
  files?: number[];
  volumeSizes?: number[];
  history?: number[];
  stallHistory?: number[];
  spaceData?: number;
  rateOps?: number;
  startupVolumes?: number;
  fioRuntime?: number;
  fioSize?: number;
  fioRepeat?: number;
  ddLimit?: number;
}
const cli = program.opts<CliOptions>();

for (const name of cli.only ?? []) {
  if (!CASES.some((c) => c.name === name))
    program.error(`no case ${name}; cases: ${CASES.map((c) => c.name).join(', ')}`);
}
if (process.getuid?.() !== 0) program.error('the suite makes loop devices, pools and mounts: run it as root');
const missing = await missingTools(REQUIRED_TOOLS);
if (missing.length > 0)
  program.error(`missing programs: ${missing.join(', ')} (Debian: apt-get install fio xfsprogs btrfs-progs)`);

const quick = cli.quick;
const options: BenchOptions = {
  quick,
  backends: cli.backends ?? [...BACKENDS],
  repeat: cli.repeat ?? (quick ? 3 : 5),
  dataSizes: cli.dataSizes ?? (quick ? ['64M'] : ['64M', '256M', '1G', '4G', '16G', '32G']).map(parseBytes),
  fileCounts: cli.files ?? (quick ? [1, 100] : [1, 100, 1000, 10_000, 100_000]),
  volumeSizes: cli.volumeSizes ?? (quick ? ['1G', '64G'] : ['1G', '16G', '256G', '1T']).map(parseBytes),
  historyWrites: cli.history ?? (quick ? [0, 1000] : [0, 1000, 10_000, 50_000, 200_000, 1_000_000]),
  stallHistory: cli.stallHistory ?? (quick ? [1000] : [0, 10_000, 50_000]),
  spaceDataBytes: cli.spaceData ?? parseBytes(quick ? '32M' : '1G'),
  rateOps: cli.rateOps ?? (quick ? 16 : 400),
  startupVolumes: cli.startupVolumes ?? (quick ? 100 : 1000),
  fio: {
    runtimeSeconds: cli.fioRuntime ?? (quick ? 1 : 5),
    sizeBytes: cli.fioSize ?? parseBytes(quick ? '32M' : '1G'),
    repeat: cli.fioRepeat ?? (quick ? 1 : 3),
  },
  ddLimitBytes: cli.ddLimit ?? parseBytes(quick ? '256M' : '16G'),
};
const selected = CASES.filter((c) => cli.only === undefined || cli.only.includes(c.name));
const name = cli.name ?? `${quick ? 'quick' : 'full'}${cli.only ? `-${cli.only.join('-')}` : ''}`;

// An interrupted run still removes what it made: drivers, mounts, loop devices, frozen filesystems.
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
    void cleanupAll()
      .then((errors) => errors.forEach((error) => process.stderr.write(`cleanup: ${String(error)}\n`)))
      .finally(() => process.exit(130));
  });
}

const startedAt = new Date();
const log = (message: string): void => {
  process.stderr.write(`[${((Date.now() - startedAt.getTime()) / 1000).toFixed(1)}s] ${message}\n`);
};

// One pool and driver per backend, shared by the cases (each removes what it makes); sparse, so
// its size costs nothing until written, and large enough for the largest volume asked for.
const poolBytes = Math.max(...options.volumeSizes, ...options.dataSizes.map((size) => size * 2)) + 64 * GiB;
const worlds = new Map<Backend, Promise<World>>();
const context: CaseContext = {
  options,
  log,
  world: (backend) => {
    let world = worlds.get(backend);
    if (!world) {
      log(`${backend}: making a ${Math.round(poolBytes / GiB)} GiB (sparse) pool and starting dolly serve`);
      world = World.create(backend, 'shared', poolBytes);
      worlds.set(backend, world);
    }
    return world;
  },
};

log(
  `bench: ${quick ? 'quick' : 'full'} run of ${selected.map((c) => c.name).join(', ')} on ${options.backends.join(', ')}`,
);
const [machine, driver] = await Promise.all([machineInfo(), driverInfo()]);
const results: CaseResult[] = [];
for (const benchCase of selected) {
  const record = new CaseRecorder();
  const start = Date.now();
  log(`case ${benchCase.name}`);
  let error: string | undefined;
  try {
    await benchCase.run(context, record);
  } catch (caught) {
    error = caught instanceof Error ? (caught.stack ?? caught.message) : String(caught);
  }
  if (interrupted) await new Promise(() => undefined);
  // Whatever the case wrote and deleted goes back to the host before the next one.
  for (const world of worlds.values()) {
    await world.then((resolved) => resolved.trim()).catch(() => undefined);
  }
  const result: CaseResult = {
    name: benchCase.name,
    title: benchCase.title,
    measures: benchCase.measures,
    tables: record.tables,
    targets: record.targets,
    charts: record.charts,
    skipped: record.skipped,
    durationMs: Date.now() - start,
    ...(error === undefined ? {} : { error }),
  };
  results.push(result);
  process.stdout.write(`\n${renderCase(result)}\n`);
}

let vendorVersion: string | undefined;
for (const world of worlds.values()) {
  const resolved = await world.catch(() => undefined);
  vendorVersion ??= await resolved?.client.getPluginInfo().then(
    (info) => info.vendor_version,
    () => undefined,
  );
  await resolved?.close();
}
const cleanupErrors = await cleanupAll();
for (const error of cleanupErrors) process.stderr.write(`cleanup: ${String(error)}\n`);

const targets = results.flatMap((result) => result.targets);
if (targets.length > 0) process.stdout.write(`\nTargets (issue 10)\n${renderTargets(targets)}\n`);

await mkdir(cli.out, { recursive: true });
const charts: string[] = [];
for (const chart of results.flatMap((result) => result.charts)) {
  if (chart.points.length === 0) continue;
  const path = join(cli.out, `${name}-${chart.id}.svg`);
  await writeChart(chart, path);
  charts.push(path);
}
const json = join(cli.out, `${name}.json`);
const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.replace(/ -- $/, '');
const durationMs = Date.now() - startedAt.getTime();
await writeFile(
  json,
  `${JSON.stringify(
    {
      suite: 'dolly bench (issue 10)',
      name,
      mode: quick ? 'quick' : 'full',
      command,
      startedAt: startedAt.toISOString(),
      durationMs,
      machine,
      driver: { ...driver, vendorVersion },
      backends: options.backends.map(backendInfo),
      options,
      cases: results,
      targets,
    },
    null,
    2,
  )}\n`,
);
const markdown = join(cli.out, `${name}.md`);
await writeFile(
  markdown,
  markdownReport(
    {
      command,
      startedAt: startedAt.toISOString(),
      durationMs,
      machine: describeMachine(machine),
      driver: describeDriver(driver),
      charts: charts.map((path) => basename(path)),
    },
    results,
  ),
);
log(`results: ${json}, ${markdown}${charts.length ? `, charts: ${charts.join(', ')}` : ''}`);
const failed = results.filter((result) => result.error !== undefined);
if (failed.length > 0 || cleanupErrors.length > 0) {
  log(
    `FAILED: ${failed.map((result) => result.name).join(', ')}${cleanupErrors.length ? ' (and cleanup)' : ''}`,
  );
  process.exit(1);
}
process.exit(0);
