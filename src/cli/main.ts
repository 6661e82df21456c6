#!/usr/bin/env node
import { Command, Option } from 'commander';
import { DollyError } from '../errors.js';
import { LOG_LEVELS } from '../log.js';
import { VERSION } from '../version.js';
import { DEFAULTS, EXPANSION_MODES, serve } from './serve.js';
import type { ServeOptions } from './serve.js';

const program = new Command('dolly')
  .description('Dolly: a CSI driver whose clones, snapshots and restores are instant reflinks')
  .version(VERSION);

program
  .command('serve')
  .description('run the CSI driver (Identity, Controller and Node services) on a unix socket')
  .option('--endpoint <endpoint>', 'CSI endpoint (unix socket)', DEFAULTS.endpoint)
  .option(
    '--pool <dir>',
    'pool directory; on a filesystem without reflinks an embedded XFS pool is created in it',
    DEFAULTS.pool,
  )
  .option('--pool-size <size>', 'size of the embedded pool image (sparse; e.g. 10G, 500G)', DEFAULTS.poolSize)
  .option('--node-id <id>', "this node's ID (default: the host name)")
  .option('--driver-name <name>', 'CSI driver name', DEFAULTS.driverName)
  .addOption(
    new Option('--log-format <format>', 'log format (default: text on a terminal, json otherwise)').choices([
      'json',
      'text',
    ]),
  )
  .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
  .addOption(
    new Option(
      '--expansion <where>',
      'where a volume grows: controller (ControllerExpandVolume, one host) or node (NodeExpandVolume, for node-local pools in a cluster)',
    )
      .choices(EXPANSION_MODES)
      .default(DEFAULTS.expansion),
  )
  .option(
    '--metrics-address <[host]:port>',
    'serve Prometheus /metrics and /healthz over HTTP here, e.g. :9810 (all interfaces) or 127.0.0.1:9810 (default: off)',
  )
  .action(async (options: ServeOptions) => {
    await serve(options);
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  const message = error instanceof DollyError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`dolly: ${message}\n`);
  process.exit(1);
});
