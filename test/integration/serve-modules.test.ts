import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Driver, MAIN } from '../helpers/driver.js';
import { Sandbox } from '../helpers/sandbox.js';
import { GiB } from '../helpers/csi.js';

const MODULE_LOG_HOOK = fileURLToPath(new URL('../helpers/module-log.js', import.meta.url));
const DIST_SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const NODE_MODULES = fileURLToPath(new URL('../../../node_modules/', import.meta.url));

/** What only the client commands use: a driver that loads it keeps it in memory for nothing. */
const CLIENT_ONLY = [
  `${DIST_SRC}local/`,
  `${DIST_SRC}k8s/`,
  `${DIST_SRC}catalog/`,
  `${DIST_SRC}cli/commands/`,
  `${DIST_SRC}cli/demo/`,
  `${DIST_SRC}cli/output.js`,
  `${DIST_SRC}cli/session.js`,
  `${NODE_MODULES}yaml/`,
  `${NODE_MODULES}cli-table3/`,
];
const METRICS = [
  `${DIST_SRC}metrics/metrics.js`,
  `${DIST_SRC}metrics/http-server.js`,
  `${NODE_MODULES}prom-client/`,
];
const PRETTY = [`${NODE_MODULES}pino-pretty/`];
/** Parsing .proto text at start: the driver reads the generated descriptor instead. */
const PROTO_PARSING = [`${NODE_MODULES}@grpc/proto-loader/`, `${NODE_MODULES}protobufjs/index.js`];

const environment = (log: string): Record<string, string> => ({
  DOLLY_MODULE_LOG: log,
  NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import ${MODULE_LOG_HOOK}`.trim(),
});

async function loadedFiles(log: string): Promise<string[]> {
  return (await readFile(log, 'utf8'))
    .split('\n')
    .filter((url) => url.startsWith('file:'))
    .map((url) => fileURLToPath(url));
}

function loadedUnder(files: string[], prefixes: string[]): string[] {
  return files.filter((file) => prefixes.some((prefix) => file.startsWith(prefix)));
}

describe('what `dolly serve` loads', () => {
  let sandbox: Sandbox;
  let pool: string;

  before(async () => {
    sandbox = await Sandbox.create('serve-modules');
    pool = await sandbox.xfsPool('pool', GiB);
  });
  after(async () => sandbox.cleanup());

  it('the client commands load their modules (which the hook sees)', async () => {
    const log = sandbox.path('help.modules');
    const child = spawn(process.execPath, [MAIN, '--help'], {
      stdio: 'ignore',
      env: { ...process.env, ...environment(log) },
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
    const files = await loadedFiles(log);
    assert.ok(loadedUnder(files, [`${DIST_SRC}local/`]).length > 0, 'the client modules were seen');
    assert.ok(loadedUnder(files, [`${NODE_MODULES}yaml/`]).length > 0, 'yaml was seen');
  });

  it('serving JSON logs without metrics loads neither the client commands, metrics, pino-pretty nor a proto parser', async () => {
    const log = sandbox.path('serve.modules');
    const driver = await Driver.start(sandbox, { pool, env: environment(log) });
    try {
      assert.equal((await driver.client.getPluginInfo()).name, 'dolly.csi.dev');
      const files = await loadedFiles(log);
      assert.ok(files.includes(`${DIST_SRC}csi/server.js`), 'the hook saw the server');
      assert.deepEqual(loadedUnder(files, [...CLIENT_ONLY, ...METRICS, ...PRETTY, ...PROTO_PARSING]), []);
    } finally {
      // The next test serves the same pool.
      await driver.stop();
    }
  });

  it('--metrics-address loads the metrics, and --log-format text pino-pretty, which write as before', async () => {
    const log = sandbox.path('serve-text.modules');
    const socket = sandbox.path('text.sock');
    const child = spawn(
      process.execPath,
      [
        MAIN,
        'serve',
        '--endpoint',
        `unix://${socket}`,
        '--pool',
        pool,
        '--node-id',
        'text-node',
        '--log-format',
        'text',
        '--metrics-address',
        '127.0.0.1:0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...environment(log) } },
    );
    sandbox.onCleanup(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    let serving: string | undefined;
    for await (const line of createInterface({ input: child.stdout })) {
      if (line.includes('dolly is serving CSI')) {
        serving = line;
        break;
      }
    }
    child.stdout.resume();
    assert.ok(serving, `the driver logged that it serves: ${stderr}`);
    // pino-pretty's single line: the level and message, then the fields; not a JSON object.
    assert.match(serving, /INFO.*dolly is serving CSI.*http:\/\/127\.0\.0\.1:\d+\/metrics/);
    assert.throws(() => JSON.parse(serving ?? '') as unknown);
    const url = /http:\/\/127\.0\.0\.1:\d+\/metrics/.exec(serving)?.[0];
    assert.ok(url);
    assert.match(await (await fetch(url)).text(), /^dolly_build_info\{version="[^"]+"\} 1$/m);
    const files = await loadedFiles(log);
    assert.ok(loadedUnder(files, METRICS).length >= METRICS.length, 'the metrics modules');
    assert.ok(loadedUnder(files, PRETTY).length > 0, 'pino-pretty');
    assert.deepEqual(loadedUnder(files, CLIENT_ONLY), []);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
  });
});
