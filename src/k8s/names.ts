/** Kubernetes object names, checked as the API server checks them, before any becomes a path. */

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A branded name: one that passed the checks below and is safe as a file name. */
export type ObjectName = string & { readonly __brand: 'ObjectName' };
export type NamespaceName = string & { readonly __brand: 'NamespaceName' };

/** Why `name` cannot name a PVC, VolumeSnapshot or class (DNS-1123 subdomain); undefined when it can. */
export function objectNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'a name is required';
  if (name.length > 253) return `${JSON.stringify(name.slice(0, 40))}… is longer than 253 characters`;
  if (!DNS_SUBDOMAIN.test(name)) {
    return `${JSON.stringify(name)} is not a valid name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Why `name` cannot name a namespace (DNS-1123 label); undefined when it can. */
export function namespaceProblem(name: string): string | undefined {
  if (name.length === 0) return 'a namespace name is required';
  if (name.length > 63 || !DNS_LABEL.test(name)) {
    return `${JSON.stringify(name)} is not a valid namespace: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit`;
  }
  return undefined;
}

export function isObjectName(name: string): name is ObjectName {
  return objectNameProblem(name) === undefined;
}

export function isNamespaceName(name: string): name is NamespaceName {
  return namespaceProblem(name) === undefined;
}
