import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HOST_TOOLS, debianPackages, describeMissingTools, missingHostTools } from '../../src/host/tools.js';
import { ROOT } from '../helpers/k8s.js';

const programs = HOST_TOOLS.map((tool) => tool.program);

/** The programs src/host/*.ts runs: run('<program>', …), runLines('<program>', …) and the [program, args] pairs it picks from. */
async function programsRunInSrcHost(): Promise<Set<string>> {
  const dir = join(ROOT, 'src', 'host');
  const found = new Set<string>();
  for (const name of (await readdir(dir)).filter((file) => file.endsWith('.ts') && file !== 'tools.ts')) {
    const source = await readFile(join(dir, name), 'utf8');
    for (const match of source.matchAll(/\brun(?:Lines)?\(\s*'([^']+)'/g)) found.add(match[1] as string);
    for (const match of source.matchAll(/\[\s*'([a-z0-9_.]+)',\s*\[/g)) found.add(match[1] as string);
  }
  return found;
}

/** The packages of the one `apt-get install` line of a script (flags dropped). */
function aptInstallPackages(text: string): string[][] {
  return [...text.matchAll(/apt-get install ([^\n&]*)/g)].map((match) =>
    (match[1] as string)
      .replace(/\\$/, '')
      .trim()
      .split(/\s+/)
      .filter((word) => word !== '' && !word.startsWith('-'))
      .sort(),
  );
}

describe('host tools: one list for the driver, the image and CI', () => {
  it('every program src/host runs is in tools.ts, and tools.ts lists nothing src/host does not run', async () => {
    const run = await programsRunInSrcHost();
    assert.ok(run.size >= 10, `found only ${[...run].join(', ')}`);
    assert.deepEqual([...run].sort(), [...programs].sort());
  });

  it('the packages are the Debian ones that ship those programs', () => {
    assert.deepEqual(debianPackages(), ['btrfs-progs', 'e2fsprogs', 'mount', 'util-linux', 'xfsprogs']);
  });

  it("the Dockerfile's runtime stage installs exactly those packages, and no build tools", async () => {
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    const stages = dockerfile.split(/^FROM /m).slice(1);
    assert.equal(stages.length, 2, 'a build stage and a runtime stage');
    const [build, runtime] = stages as [string, string];
    assert.match(build, /^node:20[.\d]*-bookworm AS build\n/);
    assert.match(runtime, /^node:20[.\d]*-bookworm-slim AS runtime\n/);
    assert.deepEqual(aptInstallPackages(runtime), [debianPackages()]);
    assert.match(runtime, /--no-install-recommends/);
    for (const forbidden of [
      /\bnpm (ci|install)\b/,
      /\b(gcc|g\+\+|make|build-essential|python3?)\b/,
      /\btsc\b/,
    ]) {
      assert.doesNotMatch(runtime, forbidden);
    }
    const copies = [...runtime.matchAll(/^COPY --from=build (\S+) /gm)].map((match) => match[1]);
    assert.deepEqual(copies.sort(), [
      '/src/build/Release/dolly_kernel.node',
      '/src/dist/src',
      '/src/node_modules',
      '/src/package.json',
      '/src/proto',
    ]);
    assert.match(
      runtime,
      /^COPY --from=build \/src\/build\/Release\/dolly_kernel\.node \.\/build\/Release\/dolly_kernel\.node$/m,
      'the addon lands where src/host/kernel.ts looks for it',
    );
    assert.doesNotMatch(runtime, /src\/native|binding\.gyp/, 'no C sources in the runtime');
    assert.match(build, /npm prune --omit=dev/, 'the node_modules copied are the production ones');
    // npm ci builds the addon by its install script, from what is copied in before it.
    assert.match(build, /^RUN npm ci$/m, 'npm ci runs install scripts (no --ignore-scripts)');
    const beforeInstall = build.slice(0, build.indexOf('RUN npm ci'));
    for (const needed of [/^COPY [^\n]*binding\.gyp/m, /^COPY scripts /m, /^COPY src\/native /m]) {
      assert.match(beforeInstall, needed);
    }
    assert.match(runtime, /^CMD \["serve"\]$/m);
    assert.match(runtime, /^ENTRYPOINT \["node", "\/app\/dist\/src\/cli\/main\.js"\]$/m);
  });

  it('CI installs the same packages, and fails at once when npm ci did not build the native addon', async () => {
    const ci = await readFile(join(ROOT, '.ci', 'run'), 'utf8');
    // The driver's packages on one line; what the build and the benchmark need on their own.
    const [driver, ...others] = aptInstallPackages(ci);
    assert.deepEqual(driver, debianPackages());
    assert.deepEqual(others, [['build-essential', 'fio', 'python3']]);
    const afterInstall = ci.slice(ci.indexOf('\nnpm ci\n'));
    assert.ok(afterInstall.length > 0, 'CI runs npm ci (with its install script)');
    assert.match(afterInstall.split('\nnpm run lint')[0] ?? '', /test -f build\/Release\/dolly_kernel\.node/);
  });

  it('package.json builds the native addon on npm ci, with the binding.gyp at the root', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    assert.equal(pkg.scripts['install'], 'node scripts/build-native.mjs');
    const gyp = await readFile(join(ROOT, 'binding.gyp'), 'utf8');
    assert.match(gyp, /"target_name": "dolly_kernel"/);
    assert.match(gyp, /"src\/native\/kernel\.c"/);
  });

  describe('the start-up check', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'dolly-tools-'));
    });
    after(async () => rm(dir, { recursive: true, force: true }));

    it('finds programs on PATH, and names the missing ones with their packages', async () => {
      const first = join(dir, 'a');
      const second = join(dir, 'b');
      await mkdir(first);
      await mkdir(second);
      for (const program of programs.filter((p) => !p.startsWith('xfs_') && p !== 'mkfs.xfs')) {
        const path = join(program.startsWith('mkfs') ? first : second, program);
        await writeFile(path, '#!/bin/sh\n');
        await chmod(path, 0o755);
      }
      // Present but not executable counts as missing: execFile could not run it.
      await writeFile(join(first, 'xfs_growfs'), '#!/bin/sh\n');
      const missing = await missingHostTools([first, second].join(delimiter));
      assert.deepEqual(missing.map((tool) => tool.program).sort(), [
        'mkfs.xfs',
        'xfs_growfs',
        'xfs_io',
        'xfs_repair',
      ]);
      assert.equal(
        describeMissingTools(missing),
        'host tools missing from PATH: mkfs.xfs, xfs_growfs, xfs_repair, xfs_io; install the packages that provide them (on Debian/Ubuntu: apt-get install xfsprogs)',
      );
      assert.equal((await missingHostTools(undefined)).length, HOST_TOOLS.length);
    });

    it('this machine has them all (the tests need them too)', async () => {
      assert.deepEqual(await missingHostTools(process.env['PATH']), []);
    });
  });
});
