/**
 * The application of the writer-stall case, run as its own process so that the bench's event
 * loop (busy with gRPC while it clones) cannot delay it: writes 4 KiB and fdatasyncs, in a tight
 * loop, over the first MiB of `file`, and notes the monotonic clock (the same clock as
 * process.hrtime in the bench) after each write, until `stopFile` exists or `maxMs` passed.
 * Prints the timestamps (milliseconds) as one JSON array.
 *
 * Usage: node stall-writer.js <file> <stopFile> <maxMs>
 */
import { closeSync, existsSync, fdatasyncSync, openSync, writeSync } from 'node:fs';

const [file, stopFile, maxMsText] = process.argv.slice(2);
if (file === undefined || stopFile === undefined || maxMsText === undefined) {
  process.stderr.write('usage: stall-writer <file> <stopFile> <maxMs>\n');
  process.exit(2);
}
const maxMs = Number(maxMsText);
const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const block = Buffer.alloc(4096, 'x');
const fd = openSync(file, 'w');
const times: number[] = [];
const start = now();
for (let i = 0; ; i += 1) {
  writeSync(fd, block, 0, block.length, (i % 256) * block.length);
  fdatasyncSync(fd);
  const t = now();
  times.push(t);
  // Checking for the stop file costs a stat; every 16 writes keeps the loop tight.
  if (i % 16 === 0 && (existsSync(stopFile) || t - start > maxMs)) break;
}
closeSync(fd);
process.stdout.write(JSON.stringify(times));
