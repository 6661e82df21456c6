import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
// The light build has no .proto parser: the proto comes parsed, from the generated descriptor.
import protobuf from 'protobufjs/light.js';
import { csiDescriptor } from '../generated/csi-descriptor.js';
import type { ControllerClient } from '../generated/csi/v1/Controller.js';
import type { IdentityClient } from '../generated/csi/v1/Identity.js';
import type { NodeClient } from '../generated/csi/v1/Node.js';

/** The wire definition; src/generated/csi-descriptor.ts is generated from it (npm run gen). */
export const PROTO_PATH = fileURLToPath(new URL('../../../proto/csi.proto', import.meta.url));
const OPTIONS_PATH = fileURLToPath(new URL('../../../proto/loader-options.json', import.meta.url));

interface LoaderOptionsFile {
  longs: 'Number' | 'String';
  enums: 'String' | 'Number';
  defaults: boolean;
  oneofs: boolean;
}

/**
 * How decoded messages become objects: the options the generated types were made with
 * (proto/loader-options.json, shared with scripts/gen-proto.mjs, which also applies keepCase).
 */
function conversionOptions(): protobuf.IConversionOptions {
  const file = JSON.parse(readFileSync(OPTIONS_PATH, 'utf8')) as LoaderOptionsFile;
  return {
    longs: file.longs === 'Number' ? Number : String,
    enums: file.enums === 'String' ? String : Number,
    defaults: file.defaults,
    oneofs: file.oneofs,
  };
}

/** A service's client class (what grpc-js makes for it), and its definition for a server. */
export interface CsiService<Client extends grpc.Client> {
  new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions): Client;
  service: grpc.ServiceDefinition;
}

/** The csi.v1 services Dolly serves and its client calls. */
export interface Csi {
  Identity: CsiService<IdentityClient>;
  Controller: CsiService<ControllerClient>;
  Node: CsiService<NodeClient>;
}

let root: protobuf.Root | undefined;

/** csi.proto, parsed (from the generated descriptor), every reference resolved. */
export function csiRoot(): protobuf.Root {
  if (!root) {
    root = protobuf.Root.fromJSON(csiDescriptor());
    root.resolveAll();
  }
  return root;
}

// What @grpc/proto-loader's package definition does for each message, without the descriptors
// of every message and file it also builds (for gRPC reflection, which Dolly does not serve).
function serializer(type: protobuf.Type): grpc.serialize<unknown> {
  return (value) => {
    if (Array.isArray(value)) {
      throw new Error(
        `Failed to serialize message: expected object with ${type.name} structure, got array instead`,
      );
    }
    const bytes = type.encode(type.fromObject(value as Record<string, unknown>)).finish();
    // protobufjs writes Buffers when it runs on Node.js: no copy.
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  };
}

function deserializer(type: protobuf.Type, options: protobuf.IConversionOptions): grpc.deserialize<unknown> {
  return (bytes) => type.toObject(type.decode(bytes), options);
}

/** A service's gRPC definition, as @grpc/proto-loader makes it for grpc-js. */
function serviceDefinition(
  service: protobuf.Service,
  options: protobuf.IConversionOptions,
): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const fullName = service.fullName.replace(/^\./, '');
  for (const method of service.methodsArray) {
    const request = method.resolvedRequestType;
    const response = method.resolvedResponseType;
    if (!request || !response) throw new Error(`${fullName}.${method.name}: unresolved message types`);
    definition[method.name] = {
      path: `/${fullName}/${method.name}`,
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      requestSerialize: serializer(request),
      requestDeserialize: deserializer(request, options),
      responseSerialize: serializer(response),
      responseDeserialize: deserializer(response, options),
      // The client's lowerCamelCase alias of each method (proto-loader's lodash.camelcase of a
      // PascalCase name, which is this).
      originalName: method.name.charAt(0).toLowerCase() + method.name.slice(1),
    };
  }
  return definition;
}

function csiService<Client extends grpc.Client>(
  name: string,
  options: protobuf.IConversionOptions,
): CsiService<Client> {
  const definition = serviceDefinition(csiRoot().lookupService(`csi.v1.${name}`), options);
  // As grpc.loadPackageDefinition makes it; the generated types describe the class it makes.
  return grpc.makeClientConstructor(definition, name) as unknown as CsiService<Client>;
}

let loaded: Csi | undefined;

/** The csi.v1 services: definitions for the server, client constructors for tests and the CLI. */
export function loadCsi(): Csi {
  if (!loaded) {
    const options = conversionOptions();
    loaded = {
      Identity: csiService<IdentityClient>('Identity', options),
      Controller: csiService<ControllerClient>('Controller', options),
      Node: csiService<NodeClient>('Node', options),
    };
  }
  return loaded;
}

/**
 * Names of the fields the spec marks `(csi_secret)`: they are never logged. Read from the
 * proto itself so that a new secret field in a newer spec is covered without code changes.
 */
export function secretFieldNames(): ReadonlySet<string> {
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
  visit(csiRoot());
  // The spec warns that mount flags may carry sensitive data although they are not marked secret.
  names.add('mount_flags');
  return names;
}
