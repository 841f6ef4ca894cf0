import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type GrpcOptions, Transport } from '@nestjs/microservices';
import type { AppConfig } from '#libs/config';

export const GRPC_PACKAGE = 'cns.v1';
const PROTO = join('libs', 'contracts', 'proto', 'notices.proto');

/** The committed .proto, found from this file whether it runs from src (tests) or dist. */
export function protoPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, PROTO);
    if (existsSync(candidate)) return candidate;
    dir = resolve(dir, '..');
  }
  throw new Error(`cannot find ${PROTO} above ${fileURLToPath(import.meta.url)}`);
}

/**
 * proto-loader options shared by the server and the tests' clients. `import
 * "google/protobuf/timestamp.proto"` needs no `includeDirs`: protobufjs resolves the well-known
 * types from its bundled copies. Timestamps arrive as `{ seconds: string, nanos }` (longs: String).
 */
export const LOADER_OPTIONS = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true };

export function grpcOptions(config: AppConfig): GrpcOptions {
  return {
    transport: Transport.GRPC,
    options: {
      package: GRPC_PACKAGE,
      protoPath: protoPath(),
      url: `${config.grpc.host}:${config.grpc.port}`,
      loader: LOADER_OPTIONS,
      maxReceiveMessageLength: config.http.maxBodyBytes * 4,
    },
  };
}
