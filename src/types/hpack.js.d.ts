// Types for the parts of hpack.js that Dolly uses (the package ships none).
declare module 'hpack.js' {
  import type { Duplex } from 'node:stream';

  export interface HeaderField {
    name: string;
    value: string;
    neverIndex: boolean;
  }

  export interface Decompressor extends Duplex {
    write(chunk: Buffer): boolean;
    /** Decodes what was written so far; decoded fields are then available from read(). */
    execute(): void;
    read(): HeaderField | null;
    updateTableSize(size: number): void;
  }

  const hpack: {
    /** maxSize bounds the dynamic table, as SETTINGS_HEADER_TABLE_SIZE does for the peer. */
    decompressor: { create(options: { table: { maxSize: number } }): Decompressor };
  };
  export default hpack;
}
