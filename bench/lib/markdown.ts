import { formatCell, verdict } from './report.js';
import type { CaseResult, ResultTable, TargetCheck } from './result.js';

const escape = (text: string): string => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

function markdownTable(table: ResultTable): string {
  const lines = [
    `| ${table.columns.map((column) => escape(column.header)).join(' | ')} |`,
    // Numbers right-aligned, words left.
    `| ${table.columns.map((column) => (table.rows.some((row) => typeof row[column.key] === 'number') ? '---:' : '---')).join(' | ')} |`,
  ];
  for (const row of table.rows) {
    lines.push(
      `| ${table.columns.map((column) => escape(formatCell(row[column.key] ?? null, column))).join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

export function markdownTargets(targets: TargetCheck[]): string {
  const lines = [
    '| figure | before (issue 10) | target | measured | verdict |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const target of targets) {
    const cells = [target.what, target.before ?? '', target.target, target.measured, verdict(target.met)];
    lines.push(`| ${cells.map(escape).join(' | ')} |`);
  }
  return lines.join('\n');
}

export interface MarkdownHeader {
  command: string;
  startedAt: string;
  durationMs: number;
  machine: string;
  driver: string;
  charts: string[];
}

/** A whole run as Markdown: the header, the targets, then each case with what it measures and its tables. */
export function markdownReport(header: MarkdownHeader, results: CaseResult[]): string {
  const parts = [
    '# Dolly benchmark results',
    `\`${header.command}\`, started ${header.startedAt}, took ${(header.durationMs / 60_000).toFixed(1)} min.`,
    `Machine: ${header.machine}. Driver: ${header.driver}.`,
    '## Targets',
    markdownTargets(results.flatMap((result) => result.targets)),
  ];
  if (header.charts.length > 0)
    parts.push(`Charts: ${header.charts.map((chart) => `[${chart}](${chart})`).join(', ')}.`);
  for (const result of results) {
    parts.push(
      `## ${result.name}: ${result.title}`,
      `${result.measures} (${(result.durationMs / 1000).toFixed(0)} s)`,
    );
    for (const table of result.tables) parts.push(markdownTable(table));
    if (result.skipped.length > 0)
      parts.push(result.skipped.map((skipped) => `- skipped: ${escape(skipped)}`).join('\n'));
    if (result.error !== undefined) parts.push(`**The case failed:**\n\n\`\`\`\n${result.error}\n\`\`\``);
  }
  return `${parts.join('\n\n')}\n`;
}
