import { writeFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import Table from 'cli-table3';
import { format, resolveConfig } from 'prettier';
import type { CheckRow } from './types.js';

/**
 * Violations of one check, each said once: the same broken invariant seen after many steps
 * (a loop device left attached stays attached) is one line with a count, not a flood.
 */
export class Violations {
  private readonly counts = new Map<string, number>();

  add(violation: string): void {
    this.counts.set(violation, (this.counts.get(violation) ?? 0) + 1);
  }

  list(): string[] {
    return [...this.counts].map(([text, count]) => (count > 1 ? `${text} (seen ${count} times)` : text));
  }
}

export interface RunFacts {
  seed: number;
  quick: boolean;
  only: string | undefined;
  startedAt: Date;
  durationMs: number;
  command: string;
}

/** The results table for the terminal, and every violation in full below it. */
export function consoleReport(rows: CheckRow[]): string {
  const table = new Table({
    head: ['suite', 'check', 'injections', 'requests', 'violations'],
    colAligns: ['left', 'left', 'right', 'right', 'right'],
    style: { head: [], border: [] },
  });
  for (const row of rows)
    table.push([row.suite, row.check, row.injections, row.requests, row.violations.length]);
  const details = rows.flatMap((row) =>
    row.violations.map((violation) => `VIOLATION [${row.suite} / ${row.check}] ${violation}`),
  );
  return [table.toString(), ...details].join('\n');
}

const SUITE_DOCS = `
## What runs

Every suite makes its own sandbox in \`/tmp\` with a real loop-mounted XFS pool (reflink=1) and
starts \`dolly serve\` on it the way an operator does; calls go over the real socket. All of it
(mounts, loop devices, frozen filesystems, driver and writer processes, the sandbox) is removed
at the end, also when a suite fails or the run is interrupted (Ctrl-C).

- **self-check**: first, the harness checks itself: the invariant checker must report nothing
  on a clean pool, and must report each fault planted by hand (a frozen filesystem, a write it
  blocks, a stray loop device, a stray mount, a mount inside the pool, a leftover in \`tmp/\`,
  an image whose size disagrees with its metadata, changed data, damaged metadata, a dead
  driver). Without this, a 0 in the other rows could mean a blind checker.
- **fault-injection**: a pool with a few volumes, one published with a process writing inside
  it. Each step sends a random mix of mutating calls from three clients at once (create, clone,
  clone larger, snapshot, restore, expand, delete volume and snapshot, stage, publish,
  unpublish, unstage, including deleting a volume in use and copying a published one; about a
  third of the clones and snapshots crash-consistent, \`dolly.csi.dev/consistency: crash\`), then
  kills the driver with \`kill -9\` after a random delay, starts it again on the same pool, sends
  every call that had no answer again until it is answered, and checks the invariants. Then
  each fault point (\`DOLLY_FAULT_CRASH\`: inside the freeze window of a clone, before a built
  clone is renamed into place, between an image's growth and its metadata, after a delete's
  rename into trash, after a stage's loop attach) is armed in turn: the call that passes it
  must kill the driver there ("armed point X was never reached" otherwise), and its retry
  after the restart must get the right answer.
- **concurrency**: one source volume with a reference file written before a process starts
  writing beside it, published; several clients at once clone it, snapshot it, restore the
  snapshots, expand it (controller and node), clone the clones and delete some of them, each
  request sent twice at the same moment. Every call must answer OK (or NOT_FOUND where its
  source may have been deleted by another), both copies of a request the same; at the end
  every copy holds the reference file exactly as written (compared where the file lies on the
  source's device), sizes agree, nothing is frozen.
- **hostile-input**: fast-check generates requests for every RPC of Identity, Controller and
  Node: IDs (random, near misses of real ones, \`..\`, absolute paths), names, sizes (negative,
  0, huge), capabilities (unknown enums, block and mount at once, odd filesystem types), mount
  flags (\`loop\`, \`bind\`, \`remount\`, commas, NUL), parameters, secrets, tokens and paths
  (relative, \`..\`, symlinks made by the harness into the pool and into a canary directory, a
  symlinked parent directory, paths inside the pool and its ancestors, a target holding files,
  very long). Node requests also get one property per hostile field (staging paths, target
  paths, mount flags) with the other fields right, so each reaches the code behind validation.
  Whatever succeeds is retried once (it must succeed again) and undone (unpublish, unstage,
  delete). A counterexample is shrunk and printed in full; the property then runs again with
  the kinds of failure already found counted as passing, so one RPC can report several kinds.
  A last property checks the CSI spec's answers for IDs that are not Dolly's (the ID of
  nothing: OK for deletes, NOT_FOUND for lookups and sources).
- **http2-abuse**: raw HTTP/2 on the CSI socket against a driver on its own pool: CONTINUATION
  floods (full and zero-length frames, never ending the block), frame headers announcing 16 MiB,
  header blocks and HPACK bombs far past the limits, more idle connections than the limit, a
  slowloris (a preface one byte at a time must be closed; a request one byte at a time must be
  answered) and random garbage after the preface. After each: the expected GOAWAY code, the
  driver alive and answering Probe and CreateVolume/DeleteVolume on a fresh connection, no call
  answered UNKNOWN, and its RSS back within 64 MiB of its baseline.
- **pool-full**: a small pool filled to the last block (a volume's filesystem written until it
  is full, then a file beside Dolly's directories); then create, clone larger, clone, snapshot,
  restore, expand, stage a never-formatted volume (mkfs on a full pool), write inside a
  published clone. Then the space is freed, the published volume mounted again through CSI (its
  ext4 may have stopped itself on a write that failed while the pool was full, as an operator
  would find), and all of it must work.

## Invariants

Checked after every step (every kill, every generated request, every phase), by one checker
(\`reliability/invariants.ts\`):

- every volume and snapshot ListVolumes/ListSnapshots returns is whole: meta.json parses, the
  image exists, image size = meta size = the size answered; every object directory is listed;
- with no call in flight, \`tmp/\` and \`trash/\` are empty;
- no filesystem on the pool's loop devices is frozen (\`fsfreeze -f\` answering EBUSY; the
  harness thaws it and goes on);
- no loop device attached to a pool image, and no mount below the harness's directories, other
  than what the suite staged and published on purpose; nothing mounted inside the pool or over
  one of its ancestors;
- data the step did not touch is unchanged (SHA-256 of known ranges of every image);
- a 4 KiB write with fsync inside every published volume completes within 15 s (in a child
  process: a frozen filesystem blocks it; the margin is wide because a busy 2-core machine can
  take seconds for one fsync, and a frozen filesystem blocks for ever);
- the driver answers Probe; no call is ever answered UNKNOWN or INTERNAL.

Runs are repeatable: \`--seed\` fixes every choice the harness makes (which calls, on what,
when to kill, what fast-check generates). Timing still varies (where exactly a kill lands), so
on a faulty driver two runs with one seed can find different faults; on a correct one every
run must find none. Quick mode (CI) makes 40 random kills, each fault point once, 4 clients x 8
calls and 60 generated requests per property; the full mode 300 kills, each point five times,
8 clients x 40 calls and 600 requests per property.
`;

/** docs/reliability.md: what runs, the invariants, the results and how they were made. */
export async function writeMarkdownReport(path: string, rows: CheckRow[], facts: RunFacts): Promise<void> {
  const cell = (text: string | number) => String(text).replace(/\|/g, '\\|');
  const total = rows.reduce((sum, row) => sum + row.violations.length, 0);
  const lines = [
    '# Reliability',
    '',
    `Generated by \`${facts.command}\` (\`npm run reliability -- --quick\` runs in CI); do not edit by hand.`,
    '',
    SUITE_DOCS.trim(),
    '',
    '## Results',
    '',
    `- mode: ${facts.quick ? 'quick' : 'full'}${facts.only ? `, only ${facts.only}` : ''}`,
    `- seed: ${facts.seed} (repeat with \`npm run reliability -- ${facts.quick ? '--quick ' : ''}--seed ${facts.seed}\`)`,
    `- date: ${facts.startedAt.toISOString()}, ${Math.round(facts.durationMs / 1000)} s`,
    `- machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node.js ${process.version}`,
    `- verdict: ${total === 0 ? 'no violation' : `${total} violation${total === 1 ? '' : 's'}`}`,
    '',
    '| suite | check | injections | requests | violations |',
    '| --- | --- | --: | --: | --: |',
    ...rows.map(
      (row) =>
        `| ${cell(row.suite)} | ${cell(row.check)} | ${row.injections} | ${row.requests} | ${row.violations.length} |`,
    ),
    '',
  ];
  const details = rows.filter((row) => row.violations.length > 0);
  if (details.length > 0) {
    lines.push('## Violations', '');
    for (const row of details) {
      lines.push(`### ${row.suite}: ${row.check}`, '');
      for (const violation of row.violations) lines.push('```text', violation, '```', '');
    }
  }
  const options = (await resolveConfig(path)) ?? {};
  await writeFile(path, await format(lines.join('\n'), { ...options, parser: 'markdown', filepath: path }));
}
