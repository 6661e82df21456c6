/**
 * A strict reader of one decoded YAML/JSON object: every field is either read or refused by
 * name, so nothing a user wrote is silently ignored.
 */
export class ObjectError extends Error {}

type Plain = Record<string, unknown>;

export function isPlainObject(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class FieldReader {
  private readonly seen = new Set<string>();

  constructor(
    private readonly value: Plain,
    /** Dotted path of this object in the document ("spec.resources"); '' at the top. */
    readonly path: string,
  ) {}

  static of(value: unknown, path: string): FieldReader {
    if (!isPlainObject(value)) throw new ObjectError(`${path || 'the document'} must be a mapping`);
    return new FieldReader(value, path);
  }

  at(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  has(key: string): boolean {
    return this.value[key] !== undefined && this.value[key] !== null;
  }

  /** Marks a field read without reading it (accepted and dropped, as the API server drops it). */
  skip(...keys: string[]): void {
    for (const key of keys) this.seen.add(key);
  }

  raw(key: string): unknown {
    this.seen.add(key);
    const value = this.value[key];
    return value === null ? undefined : value;
  }

  string(key: string): string | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw new ObjectError(`${this.at(key)} must be a string`);
    return value;
  }

  requiredString(key: string): string {
    const value = this.string(key);
    if (value === undefined || value === '') throw new ObjectError(`${this.at(key)} is required`);
    return value;
  }

  boolean(key: string): boolean | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') throw new ObjectError(`${this.at(key)} must be true or false`);
    return value;
  }

  /** A quantity field: YAML may give a number (`storage: 1000000`); it stays text. */
  quantity(key: string): string | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    if (typeof value !== 'string') throw new ObjectError(`${this.at(key)} must be a quantity such as 5Gi`);
    return value;
  }

  stringList(key: string): string[] | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
      throw new ObjectError(`${this.at(key)} must be a list of strings`);
    }
    return value as string[];
  }

  stringMap(key: string): Record<string, string> | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (!isPlainObject(value)) throw new ObjectError(`${this.at(key)} must be a mapping of strings`);
    const map: Record<string, string> = {};
    for (const [name, item] of Object.entries(value)) {
      if (typeof item !== 'string') {
        throw new ObjectError(`${this.at(key)}.${name} must be a string (quote it: "${String(item)}")`);
      }
      map[name] = item;
    }
    return map;
  }

  object(key: string): FieldReader | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    return FieldReader.of(value, this.at(key));
  }

  /** Refuses, by name, the fields Dolly recognises but does not support. */
  refuse(key: string, why: string): void {
    if (this.has(key)) throw new ObjectError(`${this.at(key)} is not supported: ${why}`);
    this.seen.add(key);
  }

  /** Refuses every field that was neither read nor skipped. */
  done(): void {
    const unknown = Object.keys(this.value).filter((key) => !this.seen.has(key));
    if (unknown.length > 0) {
      const names = unknown.map((key) => this.at(key)).join(', ');
      throw new ObjectError(`unknown field${unknown.length > 1 ? 's' : ''} ${names}`);
    }
  }
}
