import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import type { ProtoGrpcType } from '../generated/csi.js';

export const PROTO_PATH = fileURLToPath(new URL('../../../proto/csi.proto', import.meta.url));
const OPTIONS_PATH = fileURLToPath(new URL('../../../proto/loader-options.json', import.meta.url));

interface LoaderOptionsFile {
  keepCase: boolean;
  longs: 'Number' | 'String';
  enums: 'String' | 'Number';
  defaults: boolean;
  oneofs: boolean;
}

/** The options the generated types were made with (proto/loader-options.json, shared with scripts/gen-proto.mjs). */
function loaderOptions(): protoLoader.Options {
  const file = JSON.parse(readFileSync(OPTIONS_PATH, 'utf8')) as LoaderOptionsFile;
  return {
    keepCase: file.keepCase,
    longs: file.longs === 'Number' ? Number : String,
    enums: file.enums === 'String' ? String : Number,
    defaults: file.defaults,
    oneofs: file.oneofs,
  };
}

export type Csi = ProtoGrpcType['csi']['v1'];

let loaded: Csi | undefined;

/** The csi.v1 package: service definitions for the server, client constructors for tests and the CLI. */
export function loadCsi(): Csi {
  if (!loaded) {
    const definition = protoLoader.loadSync(PROTO_PATH, loaderOptions());
    loaded = (grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType).csi.v1;
  }
  return loaded;
}

/**
 * Names of the fields the spec marks `(csi_secret)`: they are never logged. Read from the
 * proto itself so that a new secret field in a newer spec is covered without code changes.
 */
export function secretFieldNames(): ReadonlySet<string> {
  const root = protobuf.loadSync(PROTO_PATH);
  const names = new Set<string>();
  const visit = (namespace: protobuf.NamespaceBase): void => {
    for (const nested of namespace.nestedArray) {
      if (nested instanceof protobuf.Type) {
        for (const field of nested.fieldsArray) {
          if (field.options?.['(csi_secret)'] === true) names.add(field.name);
        }
      }
      if (nested instanceof protobuf.Namespace) visit(nested);
    }
  };
  visit(root);
  // The spec warns that mount flags may carry sensitive data although they are not marked secret.
  names.add('mount_flags');
  return names;
}
