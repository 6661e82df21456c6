/**
 * `node dist/bench/render.js bench/results/<name>.json`: writes <name>.md and the charts
 * <name>-*.svg again from a run's JSON (after a change to the report or the charts, without
 * running the benchmarks again).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeChart } from './lib/charts.js';
import { describeDriver, describeMachine } from './lib/env.js';
import type { DriverInfo, MachineInfo } from './lib/env.js';
import { markdownReport } from './lib/markdown.js';
import type { CaseResult } from './lib/result.js';

interface RunJson {
  name: string;
  command: string;
  startedAt: string;
  durationMs: number;
  machine: MachineInfo;
  driver: DriverInfo;
  cases: CaseResult[];
}

const path = process.argv[2];
if (path === undefined) {
  process.stderr.write('usage: render.js <results.json>\n');
  process.exit(2);
}
const run = JSON.parse(await readFile(path, 'utf8')) as RunJson;
const dir = dirname(path);
const charts: string[] = [];
for (const chart of run.cases.flatMap((result) => result.charts)) {
  if (chart.points.length === 0) continue;
  const file = join(dir, `${run.name}-${chart.id}.svg`);
  await writeChart(chart, file);
  charts.push(basename(file));
}
const markdown = join(dir, `${run.name}.md`);
await writeFile(
  markdown,
  markdownReport(
    {
      command: run.command,
      startedAt: run.startedAt,
      durationMs: run.durationMs,
      machine: describeMachine(run.machine),
      driver: describeDriver(run.driver),
      charts,
    },
    run.cases,
  ),
);
process.stdout.write(`${markdown}, ${charts.join(', ')}\n`);
