/**
 * Preloaded with `node --import` (NODE_OPTIONS): appends the URL of every module the process
 * loads through the ES module loader (every module of Dolly, and the entry module of every
 * package it imports) to the file named by DOLLY_MODULE_LOG, one per line.
 */
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
import type { LoadHook } from 'node:module';
import { isMainThread } from 'node:worker_threads';

export const load: LoadHook = (url, context, nextLoad) => {
  const file = process.env['DOLLY_MODULE_LOG'];
  if (file) appendFileSync(file, `${url}\n`);
  return nextLoad(url, context);
};

// Module hooks run on a thread of their own, which loads this file again: register once.
if (isMainThread) register(import.meta.url);
