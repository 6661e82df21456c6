import type { Command } from 'commander';
import { CatalogDamaged } from '../../catalog/catalog.js';
import { HostLockTimeout } from '../../catalog/host-lock.js';
import { UserError } from '../../local/errors.js';
import { demoCommand } from './demo.js';
import { kubernetesCommands } from './kubernetes.js';
import { snapshotCommand } from './snapshot.js';
import { statusCommand } from './status.js';
import { volumeCommand } from './volume.js';

/** Every command but serve: the CSI client commands, in the order `dolly --help` lists them. */
export function clientCommands(): Command[] {
  return [volumeCommand(), snapshotCommand(), statusCommand(), ...kubernetesCommands(), demoCommand()];
}

/** The client commands' errors a person can act on (a one-line message), with their exit codes. */
export function clientFailure(error: unknown): { message: string; exitCode: number } | undefined {
  if (error instanceof UserError) return { message: error.message, exitCode: error.exitCode };
  if (error instanceof CatalogDamaged || error instanceof HostLockTimeout) {
    return { message: error.message, exitCode: 1 };
  }
  return undefined;
}
