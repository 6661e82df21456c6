import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { csiDescriptor } from '../../src/generated/csi-descriptor.js';
import { PROTO_PATH, csiRoot, loadCsi, secretFieldNames } from '../../src/csi/proto.js';
import type { Csi } from '../../src/csi/proto.js';

/** What the driver used before the generated descriptor: @grpc/proto-loader parsing the .proto text. */
const file = JSON.parse(
  readFileSync(new URL('../../../proto/loader-options.json', import.meta.url), 'utf8'),
) as {
  keepCase: boolean;
  longs: string;
  enums: string;
  defaults: boolean;
  oneofs: boolean;
};
const loaderOptions: protoLoader.Options = {
  keepCase: file.keepCase,
  longs: file.longs === 'Number' ? Number : String,
  enums: file.enums === 'String' ? String : Number,
  defaults: file.defaults,
  oneofs: file.oneofs,
};
/** As JSON: the same data, whatever the prototypes of the objects that hold it. */
const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));
function withoutEnumValueOptions(json: unknown): unknown {
  if (typeof json !== 'object' || json === null) return json;
  if (Array.isArray(json)) return json.map(withoutEnumValueOptions);
  return Object.fromEntries(
    Object.entries(json)
      .filter(([key]) => key !== 'valuesOptions')
      .map(([key, value]) => [key, withoutEnumValueOptions(value)]),
  );
}
const parsed = (): protobuf.Root => {
  const root = new protobuf.Root().loadSync(PROTO_PATH, { keepCase: file.keepCase });
  root.resolveAll();
  return root;
};
const reference = (
  grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_PATH, loaderOptions)) as unknown as {
    csi: { v1: Record<keyof Csi, grpc.ServiceClientConstructor> };
  }
).csi.v1;
const SERVICES = ['Identity', 'Controller', 'Node'] as const;

/** A value for every field of a message (the first member of each oneof), nested messages too. */
function sample(type: protobuf.Type, depth = 0): Record<string, unknown> {
  const otherOneofMembers = new Set(type.oneofsArray.flatMap((oneof) => oneof.fieldsArray.slice(1)));
  const message: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    if (otherOneofMembers.has(field)) continue;
    field.resolve();
    const value = (): unknown => fieldValue(field, depth);
    if (field.map) message[field.name] = { first: value(), second: value() };
    else if (field.repeated) message[field.name] = [value(), value()];
    else message[field.name] = value();
  }
  return message;
}

function fieldValue(field: protobuf.Field, depth: number): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return depth < 5 ? sample(resolved, depth + 1) : {};
  if (resolved instanceof protobuf.Enum) return Object.keys(resolved.values).at(-1);
  switch (field.type) {
    case 'string':
      return `${field.name} value`;
    case 'bytes':
      return Buffer.from(field.name);
    case 'bool':
      return true;
    case 'double':
    case 'float':
      return 1.5;
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return -7;
    case 'uint32':
    case 'fixed32':
      return 7;
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return -1_234_567_890_123;
    case 'uint64':
    case 'fixed64':
      return 1_234_567_890_123;
    default:
      throw new Error(`no sample for ${field.type} (${field.fullName})`);
  }
}

function codec(
  definition: grpc.MethodDefinition<unknown, unknown>,
  side: 'request' | 'response',
): { serialize: grpc.serialize<unknown>; deserialize: grpc.deserialize<unknown> } {
  return side === 'request'
    ? { serialize: definition.requestSerialize, deserialize: definition.requestDeserialize }
    : { serialize: definition.responseSerialize, deserialize: definition.responseDeserialize };
}

describe('the CSI proto, from the generated descriptor', () => {
  it('the descriptor holds the served services and all they use, as parsing csi.proto gives them', () => {
    const full = parsed();
    const without = (json: unknown, key: string): unknown =>
      Object.fromEntries(Object.entries(json as object).filter(([name]) => name !== key));
    // Each service, message and enum in it is the parsed one, field for field, options included.
    let compared = 0;
    const compare = (nested: Record<string, unknown>, path: string): void => {
      for (const [name, json] of Object.entries(nested)) {
        const original = full.lookup(`${path}${name}`);
        assert.ok(original, `${path}${name} is in csi.proto`);
        assert.deepEqual(
          without(json, 'nested'),
          without(asJson(original.toJSON()), 'nested'),
          original.fullName,
        );
        const inner = (json as { nested?: Record<string, unknown> }).nested;
        if (inner) compare(inner, `${path}${name}.`);
        compared++;
      }
    };
    compare(csiDescriptor().nested ?? {}, '');
    assert.ok(compared > 50, `${compared} compared`);
    // Every message and enum the served services use, directly or through a field, is in it.
    const root = csiRoot();
    const seen = new Set<string>();
    const reach = (type: protobuf.Type | protobuf.Enum): void => {
      if (seen.has(type.fullName)) return;
      seen.add(type.fullName);
      assert.ok(root.lookup(type.fullName), `${type.fullName} is in the descriptor`);
      if (type instanceof protobuf.Type) {
        for (const field of type.fieldsArray) if (field.resolvedType) reach(field.resolvedType);
      }
    };
    for (const name of SERVICES) {
      for (const method of full.lookupService(`csi.v1.${name}`).methodsArray) {
        for (const type of [method.resolvedRequestType, method.resolvedResponseType]) if (type) reach(type);
      }
    }
    assert.ok(seen.has('.google.protobuf.Timestamp') && seen.has('.csi.v1.VolumeCapability.AccessMode.Mode'));
    // What the driver builds from it holds all of it but the options of enum values, which
    // protobufjs's Enum.fromJSON drops (the driver does not read them).
    assert.deepEqual(asJson(csiRoot().toJSON()), withoutEnumValueOptions(asJson(csiDescriptor())));
  });

  it('each service has the methods, paths, streaming and client method names proto-loader gives', () => {
    const csi = loadCsi();
    for (const name of SERVICES) {
      const ours = csi[name].service;
      const theirs = reference[name].service;
      assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort(), name);
      for (const [method, definition] of Object.entries(theirs)) {
        const { path, requestStream, responseStream, originalName } = definition;
        const mine = ours[method];
        assert.ok(mine, `${name}.${method}`);
        assert.deepEqual(
          {
            path: mine.path,
            requestStream: mine.requestStream,
            responseStream: mine.responseStream,
            originalName: mine.originalName,
          },
          { path, requestStream, responseStream, originalName },
        );
      }
      // Clients have both GetPluginInfo and getPluginInfo, as with grpc.loadPackageDefinition.
      assert.deepEqual(
        Object.keys(csi[name].prototype as object).sort(),
        Object.keys(reference[name].prototype as object).sort(),
        `${name} client methods`,
      );
    }
  });

  it('every request and response encodes and decodes exactly as with proto-loader', () => {
    const csi = loadCsi();
    let checked = 0;
    for (const name of SERVICES) {
      const service = csiRoot().lookupService(`csi.v1.${name}`);
      for (const method of service.methodsArray) {
        const ours: grpc.MethodDefinition<unknown, unknown> | undefined = csi[name].service[method.name];
        const theirs: grpc.MethodDefinition<unknown, unknown> | undefined =
          reference[name].service[method.name];
        assert.ok(ours && theirs);
        for (const [side, type] of [
          ['request', method.resolvedRequestType],
          ['response', method.resolvedResponseType],
        ] as const) {
          assert.ok(type);
          const { serialize, deserialize } = codec(ours, side);
          const { serialize: theirSerialize, deserialize: theirDeserialize } = codec(theirs, side);
          for (const value of [{}, sample(type)]) {
            const what = `${name}.${method.name} ${side} ${JSON.stringify(value).slice(0, 60)}`;
            const bytes = serialize(value);
            assert.ok(Buffer.isBuffer(bytes), what);
            assert.deepEqual(bytes, theirSerialize(value), what);
            assert.deepEqual(deserialize(bytes), theirDeserialize(bytes), what);
            if (Object.keys(value).length > 0) assert.ok(bytes.length > 0, what);
            checked++;
          }
          assert.throws(() => serialize([]), /got array instead/);
        }
      }
    }
    assert.ok(checked > 50, `${checked} messages checked`);
  });

  it('a request decodes to the shape the handlers read: snake_case, enums as names, defaults, oneofs', () => {
    const { CreateVolume } = loadCsi().Controller.service;
    assert.ok(CreateVolume);
    const bytes = CreateVolume.requestSerialize({
      name: 'pvc-1',
      capacity_range: { required_bytes: 5 * 2 ** 40 },
      volume_capabilities: [{ access_mode: { mode: 'SINGLE_NODE_WRITER' }, mount: { fs_type: 'xfs' } }],
      volume_content_source: { snapshot: { snapshot_id: 'snap-1' } },
    });
    const request = CreateVolume.requestDeserialize(bytes) as Record<string, unknown>;
    assert.equal(request['name'], 'pvc-1');
    assert.deepEqual(request['capacity_range'], { required_bytes: 5 * 2 ** 40, limit_bytes: 0 });
    assert.deepEqual(request['secrets'], {});
    assert.deepEqual(request['volume_content_source'], {
      snapshot: { snapshot_id: 'snap-1' },
      type: 'snapshot',
    });
    const [capability] = request['volume_capabilities'] as Record<string, unknown>[];
    assert.deepEqual(capability?.['access_mode'], { mode: 'SINGLE_NODE_WRITER' });
    assert.equal(capability?.['access_type'], 'mount');
  });

  it('the secret fields are those csi.proto marks (csi_secret), and mount flags', () => {
    const marked = new Set<string>();
    const visit = (namespace: protobuf.NamespaceBase): void => {
      for (const nested of namespace.nestedArray) {
        if (nested instanceof protobuf.Type) {
          for (const field of nested.fieldsArray)
            if (field.options?.['(csi_secret)'] === true) marked.add(field.name);
        }
        if (nested instanceof protobuf.Namespace) visit(nested);
      }
    };
    visit(parsed());
    assert.ok(marked.has('secrets'));
    assert.deepEqual(secretFieldNames(), new Set([...marked, 'mount_flags']));
  });
});
