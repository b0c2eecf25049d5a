import { InvalidArgumentError } from '../../util/errors.ts';
import { bool, objectOf, str, strList } from './fields.ts';

export interface NetworkConnectBody {
  container: string;
  aliases: string[];
  ip?: string;
}

const ENDPOINT_FIELDS = [
  'IPAMConfig',
  'Links',
  'Aliases',
  'MacAddress',
  'DriverOpts',
  'GwPriority',
  'NetworkID',
  'EndpointID',
  'Gateway',
  'IPAddress',
  'IPPrefixLen',
  'IPv6Gateway',
  'GlobalIPv6Address',
  'GlobalIPv6PrefixLen',
  'DNSNames',
];

/** docker's NetworkConnectRequest (POST /networks/{id}/connect). */
export function decodeNetworkConnect(body: unknown): NetworkConnectBody {
  const o = objectOf(body, 'connect', ['Container', 'EndpointConfig']);
  const container = str(o, 'Container', 'connect');
  if (!container) throw new InvalidArgumentError('container is required: give "Container"');
  const ep = objectOf(o.EndpointConfig, 'connect.EndpointConfig', ENDPOINT_FIELDS);
  const ipam = objectOf(ep.IPAMConfig, 'connect.EndpointConfig.IPAMConfig', [
    'IPv4Address',
    'IPv6Address',
    'LinkLocalIPs',
  ]);
  if (str(ipam, 'IPv6Address', 'IPAMConfig'))
    throw new InvalidArgumentError('IPv6 addresses are not supported yet');
  if (strList(ep, 'Links', 'EndpointConfig')?.length)
    throw new InvalidArgumentError('legacy links are not supported: use aliases on a user network');
  return {
    container,
    aliases: strList(ep, 'Aliases', 'connect.EndpointConfig') ?? [],
    ip: str(ipam, 'IPv4Address', 'connect.EndpointConfig.IPAMConfig') || undefined,
  };
}

/** docker's NetworkDisconnectRequest. */
export function decodeNetworkDisconnect(body: unknown): { container: string; force: boolean } {
  const o = objectOf(body, 'disconnect', ['Container', 'Force']);
  const container = str(o, 'Container', 'disconnect');
  if (!container) throw new InvalidArgumentError('container is required: give "Container"');
  return { container, force: bool(o, 'Force', 'disconnect') ?? false };
}
