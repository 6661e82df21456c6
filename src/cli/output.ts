import Table from 'cli-table3';
import { stringify } from 'yaml';

/**
 * How commands print: tables and trees for people (kubectl's borderless look), JSON or YAML for
 * programs. Everything goes through `write` so a command's output is one string.
 */

export function write(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

const BORDERLESS = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '   ',
};

/** A table with a header row, no borders, columns three spaces apart. */
export function table(head: string[], rows: string[][]): string {
  if (rows.length === 0) return '';
  const output = new Table({
    head,
    chars: BORDERLESS,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  output.push(...rows);
  return output
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

export function yaml(value: unknown): string {
  return stringify(value);
}

export interface TreeNode {
  label: string;
  children: TreeNode[];
}

/** Draws nodes as a tree with ├── └── │ guides, roots flush left. */
export function tree(roots: TreeNode[]): string {
  const lines: string[] = [];
  const walk = (node: TreeNode, prefix: string, last: boolean, root: boolean): void => {
    lines.push(root ? node.label : `${prefix}${last ? '└── ' : '├── '}${node.label}`);
    const childPrefix = root ? '' : `${prefix}${last ? '    ' : '│   '}`;
    node.children.forEach((child, index) =>
      walk(child, childPrefix, index === node.children.length - 1, false),
    );
  };
  for (const root of roots) walk(root, '', true, true);
  return lines.join('\n');
}

/** "5m", "3h", "2d": an age as kubectl shows it. */
export function age(since: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}
