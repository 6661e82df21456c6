import { Command, Option } from 'commander';
import { isNamespaceName, namespaceProblem, objectNameProblem } from '../k8s/names.js';
import type { NamespaceName, ObjectName } from '../k8s/names.js';
import { QuantityError, parseStorageQuantity } from '../k8s/quantity.js';
import { initializeCatalog } from '../local/classes.js';
import { LocalContext } from '../local/context.js';
import { UserError } from '../local/errors.js';
import { json, write, yaml } from './output.js';

/** Options every client command has (from the program, the command and its parents). */
export interface ClientOptions {
  socket: string;
  namespace?: string;
  allNamespaces?: boolean;
  output?: string;
  json?: boolean;
}

export function optionsOf(command: Command): ClientOptions {
  return command.optsWithGlobals<ClientOptions>();
}

/** Connects to the driver, runs `work`, closes the connection whatever happens. */
export async function withContext<T>(
  command: Command,
  work: (context: LocalContext) => Promise<T>,
): Promise<T> {
  const context = await LocalContext.connect(optionsOf(command).socket);
  try {
    await initializeCatalog(context);
    return await work(context);
  } finally {
    context.close();
  }
}

export function namespaceOf(command: Command): { namespace: NamespaceName; explicit: boolean } {
  const value = optionsOf(command).namespace ?? 'default';
  if (!isNamespaceName(value)) throw new UserError(`--namespace: ${namespaceProblem(value) ?? ''}`, 2);
  return { namespace: value, explicit: command.getOptionValueSourceWithGlobals('namespace') === 'cli' };
}

/** The namespace to list: undefined with --all-namespaces. */
export function listNamespace(command: Command): NamespaceName | undefined {
  return optionsOf(command).allNamespaces ? undefined : namespaceOf(command).namespace;
}

export function objectName(value: string, what: string): ObjectName {
  const problem = objectNameProblem(value);
  if (problem !== undefined) throw new UserError(`${what}: ${problem}`, 2);
  return value as ObjectName;
}

/** Checks a size argument (a Kubernetes quantity) and returns it as written. */
export function sizeArgument(value: string, what: string): string {
  try {
    if (parseStorageQuantity(value) <= 0) throw new UserError(`${what} must be larger than 0`, 2);
  } catch (error) {
    if (error instanceof QuantityError) throw new UserError(`${what}: ${error.message}`, 2);
    throw error;
  }
  return value;
}

/** The output options of a read command: -o wide|json|yaml and --json. */
export function outputOptions(command: Command): Command {
  return command
    .option('-o, --output <format>', 'wide, json or yaml')
    .option('--json', 'JSON (same as -o json)');
}

/** Writes `value` when JSON or YAML was asked for; false when the caller prints its table. */
export function writeStructured(format: ReturnType<typeof outputFormat>, value: unknown): boolean {
  if (format !== 'json' && format !== 'yaml') return false;
  write(format === 'json' ? json(value) : yaml(value));
  return true;
}

/** --json, or -o json/yaml/wide. */
export function outputFormat(command: Command): 'table' | 'wide' | 'json' | 'yaml' {
  const options = optionsOf(command);
  if (options.json) return 'json';
  const output = options.output;
  if (output === undefined) return 'table';
  if (output === 'wide' || output === 'json' || output === 'yaml') return output;
  throw new UserError(`-o ${output}: use wide, json or yaml`, 2);
}

/**
 * Runs `work` for each name, going on past failures as kubectl does: each failure is one line on
 * stderr, and the command fails at the end if any did.
 */
export async function forEachName<T extends string>(
  names: T[],
  work: (name: T) => Promise<void>,
): Promise<void> {
  let failed = 0;
  for (const name of names) {
    try {
      await work(name);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      failed += 1;
      process.stderr.write(`dolly: ${error.message}\n`);
    }
  }
  if (failed > 0) throw new UserError(`${failed} of ${names.length} not done`);
}

/** " in namespace x" for messages, nothing for the default namespace. */
export function where(namespace: string): string {
  return namespace === 'default' ? '' : ` in namespace ${namespace}`;
}

/** `dolly volume rm` / `dolly snapshot rm`: delete each name, going on past failures. */
export function removeCommand(
  word: 'volume' | 'snapshot',
  description: string,
  remove: (context: LocalContext, namespace: NamespaceName, name: ObjectName) => Promise<void>,
): Command {
  return new Command('rm')
    .argument('<names...>')
    .alias('delete')
    .description(description)
    .addOption(new Option('-n, --namespace <namespace>', `namespace of the ${word}s`).default('default'))
    .action(async (names: string[], _options: object, command: Command) => {
      const { namespace } = namespaceOf(command);
      const checked = names.map((name) => objectName(name, `${word} name`));
      await withContext(command, async (context) => {
        await forEachName(checked, async (name) => {
          await remove(context, namespace, name);
          write(`${word} ${name}${where(namespace)} deleted`);
        });
      });
    });
}

/** -n and -A, as every listing takes them. */
export function listOptions(command: Command): Command {
  return command
    .addOption(new Option('-n, --namespace <namespace>', 'namespace to list').default('default'))
    .option('-A, --all-namespaces', 'list every namespace');
}
