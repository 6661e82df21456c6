import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { errnoCode } from '../errors.js';
import { UserError } from './errors.js';

/** One decoded YAML/JSON document and where it came from, for messages. */
export interface SourcedDocument {
  source: string;
  document: unknown;
}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function filesOf(path: string): Promise<string[]> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') throw new UserError(`${path}: no such file or directory`);
    throw error;
  }
  if (!info.isDirectory()) return [path];
  const names = (await readdir(path)).filter((name) => MANIFEST_EXTENSIONS.has(extname(name))).sort();
  if (names.length === 0) throw new UserError(`${path}: no .yaml, .yml or .json files in this directory`);
  return names.map((name) => join(path, name));
}

/** Decodes every document of a text; a `kind: List` is its items. Empty documents are skipped. */
export function decodeDocuments(text: string, source: string): SourcedDocument[] {
  const documents: SourcedDocument[] = [];
  for (const parsed of parseAllDocuments(text)) {
    const error = parsed.errors[0];
    if (error) {
      const line = error.linePos?.[0].line;
      throw new UserError(
        `${source}${line !== undefined ? `:${line}` : ''}: not valid YAML: ${error.message.split('\n')[0] ?? ''}`,
      );
    }
    const value: unknown = parsed.toJS();
    if (value === null || value === undefined) continue;
    const record = value as { kind?: unknown; items?: unknown };
    if (typeof record === 'object' && record.kind === 'List' && Array.isArray(record.items)) {
      for (const item of record.items as unknown[]) documents.push({ source, document: item });
    } else {
      documents.push({ source, document: value });
    }
  }
  return documents;
}

/** Reads `-f` arguments: files, directories (their .yaml/.yml/.json files, in name order), `-` for stdin. */
export async function readDocuments(paths: string[]): Promise<SourcedDocument[]> {
  const documents: SourcedDocument[] = [];
  for (const path of paths) {
    if (path === '-') {
      documents.push(...decodeDocuments(await readStdin(), '(stdin)'));
      continue;
    }
    for (const file of await filesOf(path)) {
      documents.push(...decodeDocuments(await readFile(file, 'utf8'), file));
    }
  }
  if (documents.length === 0) throw new UserError(`no objects in ${paths.join(', ')}`);
  return documents;
}
