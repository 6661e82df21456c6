import { isAbsolute } from 'node:path';
import { invalidArgument } from '../errors.js';

/**
 * The socket path of a CSI endpoint. CSI drivers listen on unix sockets; the usual spelling is
 * unix:///csi/csi.sock, and a bare absolute path is accepted too.
 */
export function socketPathOf(endpoint: string): string {
  let path: string;
  if (endpoint.startsWith('unix://')) path = endpoint.slice('unix://'.length);
  else if (endpoint.startsWith('unix:')) path = endpoint.slice('unix:'.length);
  else path = endpoint;
  if (!isAbsolute(path)) {
    throw invalidArgument(
      `endpoint ${JSON.stringify(endpoint)} is not a unix socket; use unix:///absolute/path/csi.sock`,
    );
  }
  // sun_path holds 107 bytes plus the terminating NUL.
  if (Buffer.byteLength(path) > 107) throw invalidArgument(`socket path ${path} is longer than 107 bytes`);
  return path;
}
