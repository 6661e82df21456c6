/**
 * `npm run reliability [-- --quick] [--seed N] [--only <suite>] [--pool-fs xfs|btrfs]`: runs the
 * reliability suites against a real `dolly serve` on real loop-mounted pools — each suite that
 * tries the storage engine once per backend (XFS: reflink, btrfs: subvolumes) — prints the
 * results table and every violation, and rewrites docs/reliability.md. Exits 1 when anything
 * was violated.
 */
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { cleanupAll, sweepReleased } from './cleanup.js';
import { consoleReport, writeMarkdownReport } from './report.js';
import { SUITES } from './suites/index.js';
import type { CheckRow, PoolFs } from './types.js';

const POOL_FILESYSTEMS: readonly PoolFs[] = ['xfs', 'btrfs'];

const REPORT = fileURLToPath(new URL('../../docs/reliability.md', import.meta.url));

const program = new Command('reliability')
  .option('--quick', 'a minute or two in all, for CI', false)
  .option('--seed <n>', 'seed for every random choice (default: random, printed)', (value) => {
    const seed = Number(value);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new InvalidArgumentError('a non-negative integer');
    return seed;
  })
  .option('--only <suite>', `one suite: ${SUITES.map((suite) => suite.name).join(', ')}`)
  .option(
    '--pool-fs <fs>',
    'one backend only: xfs (reflink) or btrfs (subvolumes); default: both',
    (value) => {
      if (!(POOL_FILESYSTEMS as readonly string[]).includes(value))
        throw new InvalidArgumentError('xfs or btrfs');
      return value as PoolFs;
    },
  )
  .parse();
const options = program.opts<{ quick: boolean; seed?: number; only?: string; poolFs?: PoolFs }>();

if (options.only !== undefined && !SUITES.some((suite) => suite.name === options.only)) {
  program.error(`no suite ${options.only}; suites: ${SUITES.map((suite) => suite.name).join(', ')}`);
}
if (process.getuid?.() !== 0)
  program.error('the harness makes loop devices, pools and mounts: run it as root');

// An interrupted run still removes what it made: mounts, loops, frozen filesystems, drivers.
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nreliability: ${signal}, cleaning up\n`);
    void cleanupAll()
      .then(async (errors) => {
        for (const error of errors) process.stderr.write(`cleanup: ${String(error)}\n`);
        await sweepReleased();
      })
      .finally(() => process.exit(130));
  });
}

// A harness bug must not leave the machine dirty either.
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (error: unknown) => {
    process.stderr.write(
      `reliability: harness error (${event}): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    if (interrupted) return;
    interrupted = true;
    void cleanupAll()
      .then(sweepReleased)
      .finally(() => process.exit(2));
  });
}

const seed = options.seed ?? randomInt(2 ** 31);
const quick = options.quick;
const startedAt = new Date();
const log = (message: string) =>
  process.stdout.write(`[${((Date.now() - startedAt.getTime()) / 1000).toFixed(1)}s] ${message}\n`);
log(`reliability: ${quick ? 'quick' : 'full'} run, seed ${seed}`);

const rows: CheckRow[] = [];
const passes = SUITES.filter(
  (candidate) => options.only === undefined || candidate.name === options.only,
).flatMap((suite) =>
  (suite.perBackend ? POOL_FILESYSTEMS : (['xfs'] as const))
    .filter((poolFs) => options.poolFs === undefined || poolFs === options.poolFs || !suite.perBackend)
    .map((poolFs) => ({ suite, poolFs, label: suite.perBackend ? `${suite.name} (${poolFs})` : suite.name })),
);
for (const { suite, poolFs, label } of passes) {
  const suiteStart = Date.now();
  log(`suite ${label}`);
  try {
    const suiteRows = await suite.run({ quick, seed, log, poolFs });
    rows.push(...suiteRows.map((row) => ({ ...row, suite: label })));
  } catch (error) {
    rows.push({
      suite: label,
      check: 'the suite ran to its end',
      injections: 0,
      requests: 0,
      violations: [
        `the suite failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      ],
    });
  }
  log(`suite ${label} took ${((Date.now() - suiteStart) / 1000).toFixed(1)} s`);
  // Interrupted: the signal handler cleans up and exits; no report from half a run.
  if (interrupted) await new Promise(() => undefined);
}

const leftovers = await cleanupAll();
if (leftovers.length > 0) {
  rows.push({
    suite: 'harness',
    check: 'cleanup',
    injections: 0,
    requests: 0,
    violations: leftovers.map((error) => `cleanup failed: ${String(error)}`),
  });
}

process.stdout.write(`${consoleReport(rows)}\n`);
const command = `npm run reliability --${quick ? ' --quick' : ''}${options.only ? ` --only ${options.only}` : ''}${options.poolFs ? ` --pool-fs ${options.poolFs}` : ''} --seed ${seed}`;
await writeMarkdownReport(REPORT, rows, {
  seed,
  quick,
  only: options.only,
  startedAt,
  durationMs: Date.now() - startedAt.getTime(),
  command,
});
const total = rows.reduce((sum, row) => sum + row.violations.length, 0);
log(`${total === 0 ? 'no violation' : `${total} violation(s)`}; seed ${seed}; report: docs/reliability.md`);
process.exit(total === 0 ? 0 : 1);
