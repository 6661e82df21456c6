#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { socketPathOf } from '../csi/endpoint.js';
import { DollyError } from '../errors.js';
import { LOG_LEVELS } from '../log.js';
import { VERSION } from '../version.js';
import { DEFAULTS, EXPANSION_MODES, serve } from './serve.js';
import { EMBEDDED_FILESYSTEMS } from '../pool/prepare.js';
import type { ServeOptions } from './serve.js';

/** The client commands talk to the driver where it listens by default. */
const DEFAULT_SOCKET = socketPathOf(DEFAULTS.endpoint);

/**
 * `dolly serve` runs as long as the node does: it does not load the client commands, whose
 * modules (Kubernetes objects, YAML, tables, the catalog) would stay resident for nothing.
 * Anything else, `dolly --socket x serve` included, loads them all (serve works the same).
 */
const client = process.argv[2] === 'serve' ? undefined : await import('./commands/client.js');

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

for (const command of client?.clientCommands() ?? []) program.addCommand(command);

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
  const known =
    client?.clientFailure(error) ??
    (error instanceof DollyError ? { message: error.message, exitCode: 1 } : undefined);
  const message =
    known?.message ??
    (error instanceof Error
      ? `${error.message} (unexpected: please report it; DOLLY_DEBUG=1 prints where it happened)`
      : String(error));
  process.stderr.write(`dolly: ${message}\n`);
  if (process.env['DOLLY_DEBUG'] && error instanceof Error) process.stderr.write(`${error.stack ?? ''}\n`);
  return known?.exitCode ?? 1;
}

program.parseAsync(process.argv).catch((error: unknown) => {
  process.exitCode = exitCodeOf(error);
});
