import { join } from 'node:path';
import { imageInSync } from '../../src/pool/layout.js';

/** The image of a volume or snapshot in a pool directory, wherever its backend keeps it. */
export function imageOf(pool: string, kind: string, id: string): string {
  return imageInSync(join(pool, kind, id));
}
