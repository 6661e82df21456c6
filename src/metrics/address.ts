import { isIP } from 'node:net';
import { invalidArgument } from '../errors.js';

/** Where the metrics HTTP server listens. host undefined: every interface (IPv6 and IPv4). */
export interface ListenAddress {
  host: string | undefined;
  port: number;
}

/** A DNS host name: dot-separated labels of letters, digits and inner hyphens. */
const HOST_NAME =
  /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/**
 * Parses `--metrics-address`: `[host]:port`, as Kubernetes components write it. `:9808` is every
 * interface, `127.0.0.1:9808` or `[::1]:9808` one address, `localhost:9808` a name. Port 0 asks
 * the kernel for a free port (the driver logs the one it got).
 */
export function parseListenAddress(value: string): ListenAddress {
  const bad = (why: string) =>
    invalidArgument(
      `--metrics-address ${JSON.stringify(value)} ${why}; write [host]:port, e.g. :9810, 127.0.0.1:9810 or [::1]:9810`,
    );
  let host: string;
  let portText: string;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0) throw bad('has no closing ] after its IPv6 address');
    host = value.slice(1, close);
    if (value[close + 1] !== ':') throw bad('has no :port after its IPv6 address');
    portText = value.slice(close + 2);
    if (isIP(host) !== 6) throw bad(`has ${JSON.stringify(host)} in brackets, which is not an IPv6 address`);
  } else {
    const colon = value.lastIndexOf(':');
    if (colon < 0) throw bad('has no port');
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (host.includes(':')) throw bad('has an IPv6 address without brackets');
    if (host !== '' && isIP(host) !== 4 && !HOST_NAME.test(host)) {
      throw bad(`has ${JSON.stringify(host)}, which is neither an IP address nor a host name`);
    }
  }
  if (!/^[0-9]{1,5}$/.test(portText)) throw bad('has no port number after the colon');
  const port = Number(portText);
  if (port > 65535) throw bad(`has port ${port}, above 65535`);
  return { host: host === '' ? undefined : host, port };
}

/** An address as a URL authority: IPv6 in brackets. */
export function formatHostPort(host: string, port: number): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}
