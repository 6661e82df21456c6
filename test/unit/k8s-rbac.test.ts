import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { DEPLOY, field, findObject, kustomizeBuild } from '../helpers/k8s.js';
import type { Container, K8sObject } from '../helpers/k8s.js';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

interface SidecarSource {
  name: string;
  container: string;
  image: string;
  version: string;
  source: string;
  clusterRole?: string;
  clusterRules: Rule[];
  role?: string;
  namespacedRules: Rule[];
  omitted: { rule: Rule; why: string }[];
}

/** A rule set as "group resource verb" triples, so that the grouping of rules does not matter. */
function permissions(rules: readonly Rule[]): string[] {
  const triples = new Set<string>();
  for (const rule of rules) {
    for (const group of rule.apiGroups) {
      for (const resource of rule.resources) {
        for (const verb of rule.verbs) triples.add(`${group || 'core'} ${resource} ${verb}`);
      }
    }
  }
  return [...triples].sort();
}

/**
 * The ClusterRoles and Roles grant each sidecar exactly the API calls its pinned release
 * documents (deploy/kubernetes/rbac-sources.json, with the source of each), less what Dolly's
 * configuration never makes (each omission with its reason), and nothing else.
 */
describe('RBAC: each sidecar gets exactly what its pinned version documents', () => {
  let objects: K8sObject[];
  let sidecars: SidecarSource[];

  before(async () => {
    objects = await kustomizeBuild(DEPLOY);
    const sources = JSON.parse(await readFile(join(DEPLOY, 'rbac-sources.json'), 'utf8')) as {
      sidecars: SidecarSource[];
    };
    sidecars = sources.sidecars;
  });

  it('the list covers every container of the DaemonSet but the driver, at the version its image is pinned to', () => {
    const containers = field(
      findObject(objects, 'DaemonSet', 'dolly-node'),
      'spec.template.spec.containers',
    ) as Container[];
    const sidecarContainers = containers.filter((container) => container.name !== 'dolly');
    assert.deepEqual(sidecarContainers.map((c) => c.name).sort(), sidecars.map((s) => s.container).sort());
    for (const sidecar of sidecars) {
      const container = sidecarContainers.find((c) => c.name === sidecar.container);
      assert.equal(container?.image, `${sidecar.image}:${sidecar.version}`, sidecar.name);
      assert.match(
        sidecar.source,
        new RegExp(`^https://github\\.com/kubernetes-csi/[a-z-]+/blob/${sidecar.version}/`),
      );
    }
  });

  it('each ClusterRole and Role holds exactly the documented rules', () => {
    for (const sidecar of sidecars) {
      if (sidecar.clusterRole !== undefined) {
        const role = findObject(objects, 'ClusterRole', sidecar.clusterRole);
        assert.deepEqual(
          permissions(role['rules'] as Rule[]),
          permissions(sidecar.clusterRules),
          sidecar.clusterRole,
        );
      } else {
        assert.deepEqual(sidecar.clusterRules, [], `${sidecar.name} has rules but no ClusterRole`);
      }
      if (sidecar.role !== undefined) {
        const role = findObject(objects, 'Role', sidecar.role);
        assert.deepEqual(
          permissions(role['rules'] as Rule[]),
          permissions(sidecar.namespacedRules),
          sidecar.role,
        );
      } else {
        assert.deepEqual(sidecar.namespacedRules, [], `${sidecar.name} has namespaced rules but no Role`);
      }
    }
  });

  it('nothing is both granted and omitted, and every omission says why', () => {
    for (const sidecar of sidecars) {
      const granted = new Set(permissions([...sidecar.clusterRules, ...sidecar.namespacedRules]));
      for (const { rule, why } of sidecar.omitted) {
        assert.ok(why.length > 20, `${sidecar.name}: an omission without a reason`);
        for (const permission of permissions([rule])) {
          assert.ok(
            !granted.has(permission),
            `${sidecar.name}: ${permission} is granted and listed as omitted`,
          );
        }
      }
    }
  });

  it("there are no other roles, and every binding gives one documented role to the driver pod's ServiceAccount", () => {
    const documentedClusterRoles = sidecars
      .flatMap((s) => (s.clusterRole === undefined ? [] : [s.clusterRole]))
      .sort();
    const documentedRoles = sidecars.flatMap((s) => (s.role === undefined ? [] : [s.role])).sort();
    const names = (kind: string): string[] =>
      objects
        .filter((object) => object.kind === kind)
        .map((object) => object.metadata.name)
        .sort();
    assert.deepEqual(names('ClusterRole'), documentedClusterRoles);
    assert.deepEqual(names('Role'), documentedRoles);
    const serviceAccount = findObject(objects, 'ServiceAccount');
    const daemonSet = findObject(objects, 'DaemonSet', 'dolly-node');
    assert.equal(field(daemonSet, 'spec.template.spec.serviceAccountName'), serviceAccount.metadata.name);
    const bindings = objects.filter(
      (object) => object.kind === 'ClusterRoleBinding' || object.kind === 'RoleBinding',
    );
    assert.equal(bindings.length, documentedClusterRoles.length + documentedRoles.length);
    for (const binding of bindings) {
      const roleRef = binding['roleRef'] as { kind: string; name: string };
      assert.equal(roleRef.kind, binding.kind === 'ClusterRoleBinding' ? 'ClusterRole' : 'Role');
      assert.ok(
        (roleRef.kind === 'ClusterRole' ? documentedClusterRoles : documentedRoles).includes(roleRef.name),
      );
      assert.deepEqual(binding['subjects'], [
        {
          kind: 'ServiceAccount',
          name: serviceAccount.metadata.name,
          namespace: serviceAccount.metadata.namespace,
        },
      ]);
    }
  });

  it('a rule added to a ClusterRole would be caught', () => {
    const sidecar = sidecars.find((s) => s.clusterRole === 'dolly-external-resizer-runner');
    assert.ok(sidecar);
    const role = findObject(objects, 'ClusterRole', 'dolly-external-resizer-runner');
    const widened = [
      ...(role['rules'] as Rule[]),
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
    ];
    assert.notDeepEqual(permissions(widened), permissions(sidecar.clusterRules));
  });
});
