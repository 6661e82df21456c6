import { writeFile } from 'node:fs/promises';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import type { ChartData } from './result.js';

/**
 * A line chart of one ChartData, both axes on log scales (latencies span 1 ms to minutes and
 * sizes 64 MiB to 1 TiB), one colour per method timed and one dash per pool filesystem, rendered to SVG by Vega without a browser.
 */
export async function renderChart(chart: ChartData): Promise<string> {
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: chart.title,
    width: 560,
    height: 340,
    background: 'white',
    data: { values: chart.points },
    mark: { type: 'line', point: true, tooltip: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: chart.xTitle, scale: { type: 'log' } },
      y: { field: 'y', type: 'quantitative', title: chart.yTitle, scale: { type: 'log' } },
      color: {
        field: 'method',
        type: 'nominal',
        title: 'timed',
        legend: { orient: 'bottom', labelLimit: 0, columns: 2 },
      },
      strokeDash: { field: 'pool', type: 'nominal', title: 'pool', legend: { orient: 'bottom' } },
      shape: { field: 'pool', type: 'nominal', title: 'pool', legend: { orient: 'bottom' } },
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export async function writeChart(chart: ChartData, path: string): Promise<void> {
  await writeFile(path, await renderChart(chart));
}
