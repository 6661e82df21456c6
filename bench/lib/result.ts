/** What a case hands back: tables for the terminal and the JSON, target checks, chart points. */

export type Cell = string | number | null;
export type Row = Record<string, Cell>;

export interface Column {
  key: string;
  header: string;
  /** Decimal places for numbers (default 1). */
  digits?: number;
}

export interface ResultTable {
  title: string;
  columns: Column[];
  rows: Row[];
}

/** One figure of the targets table, measured in this run. */
export interface TargetCheck {
  what: string;
  target: string;
  /** What the issue measured before the work on it. */
  before?: string;
  measured: string;
  /** null: not measured in this run (skipped, or the case failed). */
  met: boolean | null;
}

export interface ChartPoint {
  x: number;
  y: number;
  /** What was timed: "Dolly clone (p50)", "cp --sparse=always", ... (one colour each). */
  method: string;
  /** The pool filesystem (one dash pattern and point shape each). */
  pool: string;
}

export interface ChartData {
  /** File name part: <run name>-<id>.svg */
  id: string;
  title: string;
  xTitle: string;
  yTitle: string;
  points: ChartPoint[];
}

export interface CaseResult {
  name: string;
  title: string;
  /** What exactly is measured, in a sentence or two (printed and kept in the JSON). */
  measures: string;
  tables: ResultTable[];
  targets: TargetCheck[];
  charts: ChartData[];
  /** What was left out and why (disk space, options). */
  skipped: string[];
  durationMs: number;
  /** Set when the case failed; what it had measured until then is kept. */
  error?: string;
}

/** A case's result under construction. */
export class CaseRecorder {
  readonly tables: ResultTable[] = [];
  readonly targets: TargetCheck[] = [];
  readonly charts: ChartData[] = [];
  readonly skipped: string[] = [];

  table(title: string, columns: Column[]): Row[] {
    const table: ResultTable = { title, columns, rows: [] };
    this.tables.push(table);
    return table.rows;
  }

  target(check: TargetCheck): void {
    this.targets.push(check);
  }

  chart(id: string, title: string, xTitle: string, yTitle: string): ChartPoint[] {
    const chart: ChartData = { id, title, xTitle, yTitle, points: [] };
    this.charts.push(chart);
    return chart.points;
  }

  skip(why: string): void {
    this.skipped.push(why);
  }
}
