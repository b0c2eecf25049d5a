import type { NetworkCreateOptions } from '../../network/types.ts';
import { InvalidArgumentError } from '../../util/errors.ts';
import { bool, type JsonObject, objectOf, str, strMap } from './fields.ts';

const FIELDS = [
  'Name',
  'CheckDuplicate',
  'Driver',
  'Scope',
  'Internal',
  'Attachable',
  'Ingress',
  'ConfigOnly',
  'ConfigFrom',
  'IPAM',
  'EnableIPv4',
  'EnableIPv6',
  'Options',
  'Labels',
];
const IPAM_FIELDS = ['Driver', 'Config', 'Options'];
const POOL_FIELDS = ['Subnet', 'IPRange', 'Gateway', 'AuxiliaryAddresses'];

/** docker's NetworkCreateRequest. Berth networks are IPv4 bridges with at most one pool. */
export function decodeNetworkCreate(body: unknown): NetworkCreateOptions {
  const o = objectOf(body, 'network', FIELDS);
  const name = str(o, 'Name', 'network');
  if (!name) throw new InvalidArgumentError('network name is required: give "Name"');
  if (bool(o, 'EnableIPv6', 'network'))
    throw new InvalidArgumentError('IPv6 networks are not supported yet: create an IPv4 network');
  if (bool(o, 'Ingress', 'network') || bool(o, 'ConfigOnly', 'network'))
    throw new InvalidArgumentError('ingress and config-only networks need swarm, which Berth does not run');
  const scope = str(o, 'Scope', 'network');
  if (scope && scope !== 'local')
    throw new InvalidArgumentError(`network scope "${scope}" is not supported: only "local"`);
  const ipam = objectOf(o.IPAM, 'network.IPAM', IPAM_FIELDS);
  const ipamDriver = str(ipam, 'Driver', 'network.IPAM');
  if (ipamDriver && ipamDriver !== 'default')
    throw new InvalidArgumentError(`IPAM driver "${ipamDriver}" is not supported: only "default"`);
  const pools = ipam.Config ?? [];
  if (!Array.isArray(pools)) throw new InvalidArgumentError('network.IPAM.Config: expected a list');
  if (pools.length > 1) throw new InvalidArgumentError('only one IPAM pool is supported (IPv4 only)');
  const pool: JsonObject = pools.length ? objectOf(pools[0], 'network.IPAM.Config[0]', POOL_FIELDS) : {};
  if (pool.AuxiliaryAddresses && Object.keys(objectOf(pool.AuxiliaryAddresses, 'AuxiliaryAddresses')).length)
    throw new InvalidArgumentError('auxiliary addresses are not supported');
  return {
    name,
    driver: str(o, 'Driver', 'network') || undefined,
    subnet: str(pool, 'Subnet', 'network.IPAM.Config[0]') || undefined,
    gateway: str(pool, 'Gateway', 'network.IPAM.Config[0]') || undefined,
    ipRange: str(pool, 'IPRange', 'network.IPAM.Config[0]') || undefined,
    internal: bool(o, 'Internal', 'network') ?? false,
    labels: strMap(o, 'Labels', 'network'),
    options: strMap(o, 'Options', 'network'),
  };
}
