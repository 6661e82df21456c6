import Table from 'cli-table3';
import type { CaseResult, Cell, Column, ResultTable, TargetCheck } from './result.js';

export function formatCell(value: Cell, column: Column): string {
  if (value === null) return '—';
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && column.digits === undefined) return value.toLocaleString('en');
  return value.toLocaleString('en', {
    minimumFractionDigits: column.digits ?? 1,
    maximumFractionDigits: column.digits ?? 1,
  });
}

function renderTable(table: ResultTable): string {
  const output = new Table({
    head: table.columns.map((column) => column.header),
    style: { head: [], border: [] },
  });
  for (const row of table.rows) {
    output.push(table.columns.map((column) => formatCell(row[column.key] ?? null, column)));
  }
  return `${table.title}\n${output.toString()}`;
}

export function verdict(met: boolean | null): string {
  return met === null ? 'not measured' : met ? 'met' : 'NOT MET';
}

/** One case as the terminal shows it: what it measures, its tables, what it skipped (targets come last, together). */
export function renderCase(result: CaseResult): string {
  const parts = [
    `== ${result.name}: ${result.title} (${(result.durationMs / 1000).toFixed(1)} s)`,
    result.measures,
  ];
  for (const table of result.tables) parts.push(renderTable(table));
  for (const skipped of result.skipped) parts.push(`skipped: ${skipped}`);
  if (result.error !== undefined) parts.push(`FAILED: ${result.error}`);
  return parts.join('\n\n');
}

export function renderTargets(targets: TargetCheck[]): string {
  const output = new Table({
    head: ['figure', 'before (issue 10)', 'target', 'measured', 'verdict'],
    colWidths: [44, 22, 24, 40, 14],
    wordWrap: true,
    style: { head: [], border: [] },
  });
  for (const target of targets) {
    output.push([target.what, target.before ?? '', target.target, target.measured, verdict(target.met)]);
  }
  return output.toString();
}
