#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { DollyError } from '../errors.js';
import { CatalogDamaged } from '../catalog/catalog.js';
import { HostLockTimeout } from '../catalog/host-lock.js';
import { UserError } from '../local/errors.js';
import { kubernetesCommands } from './commands/kubernetes.js';
import { snapshotCommand } from './commands/snapshot.js';
import { statusCommand } from './commands/status.js';
import { demoCommand } from './commands/demo.js';
import { volumeCommand } from './commands/volume.js';
import { DEFAULT_SOCKET } from './session.js';
import { LOG_LEVELS } from '../log.js';
import { VERSION } from '../version.js';
import { DEFAULTS, EXPANSION_MODES, serve } from './serve.js';
import { EMBEDDED_FILESYSTEMS } from '../pool/prepare.js';
import type { ServeOptions } from './serve.js';

const program = new Command('dolly')
  .description('Dolly: a CSI driver whose clones, snapshots and restores are instant reflinks')
  .version(VERSION)
  .option(
    '--socket <path>',
    "the driver's CSI socket, for every command but serve (env DOLLY_SOCKET)",
    process.env['DOLLY_SOCKET'] ?? DEFAULT_SOCKET,
  );

program
  .command('serve')
  .description('run the CSI driver (Identity, Controller and Node services) on a unix socket')
  .option('--endpoint <endpoint>', 'CSI endpoint (unix socket)', DEFAULTS.endpoint)
  .option(
    '--pool <dir>',
    'pool directory; on a filesystem without reflinks an embedded pool is created in it',
    DEFAULTS.pool,
  )
  .option('--pool-size <size>', 'size of the embedded pool image (sparse; e.g. 10G, 500G)', DEFAULTS.poolSize)
  .addOption(
    new Option('--embedded-fs <fs>', 'filesystem of a new embedded pool (an existing one keeps its own)')
      .choices(EMBEDDED_FILESYSTEMS)
      .default(DEFAULTS.embeddedFs),
  )
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

program.addCommand(volumeCommand());
program.addCommand(snapshotCommand());
program.addCommand(statusCommand());
for (const command of kubernetesCommands()) program.addCommand(command);
program.addCommand(demoCommand());

/** Usage errors exit 2 (help and --version 0), in every subcommand. */
function exitOnUsageErrors(command: Command): void {
  command.exitOverride((error: CommanderError) => {
    throw error;
  });
  command.showHelpAfterError('(run with --help for usage)');
  for (const sub of command.commands) exitOnUsageErrors(sub);
}
exitOnUsageErrors(program);

/** Errors a person can act on are one line; anything else is a bug and says so. */
function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) {
    return error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version' ||
      error.code === 'commander.help'
      ? 0
      : 2;
  }
  const message =
    error instanceof UserError ||
    error instanceof DollyError ||
    error instanceof CatalogDamaged ||
    error instanceof HostLockTimeout
      ? error.message
      : error instanceof Error
        ? `${error.message} (unexpected: please report it; DOLLY_DEBUG=1 prints where it happened)`
        : String(error);
  process.stderr.write(`dolly: ${message}\n`);
  if (process.env['DOLLY_DEBUG'] && error instanceof Error) process.stderr.write(`${error.stack ?? ''}\n`);
  return error instanceof UserError ? error.exitCode : 1;
}

program.parseAsync(process.argv).catch((error: unknown) => {
  process.exitCode = exitCodeOf(error);
});
