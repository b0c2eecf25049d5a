/** A network as Berth stores it: one Linux bridge that netavark configures, with one IPv4 subnet. */
export interface NetworkRecord {
  id: string;
  name: string;
  driver: 'bridge';
  /** CIDR, e.g. 10.89.0.0/24. */
  subnet: string;
  gateway: string;
  /** CIDR inside `subnet` that container addresses come from; '' = the whole subnet. */
  ipRange: string;
  internal: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  created: string;
  /** The bridge's name on the host. */
  iface: string;
  /** aardvark-dns answers container names on this network (docker: user networks, not the default). */
  dnsEnabled: boolean;
}

/** One container's endpoint on one network; kept from create (or connect) until rm (or disconnect). */
export interface Attachment {
  containerId: string;
  networkId: string;
  ip: string;
  mac: string;
  aliases: string[];
  /** eth0, eth1, … inside the container. */
  ifname: string;
}

/** A published port, resolved to a concrete host port (random ones are chosen at the first start). */
export interface PortMapping {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
}

export interface NetworkCreateOptions {
  name: string;
  driver?: string;
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  internal: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
}

/** docker's NetworkResource (GET /networks/{id}). */
export interface NetworkInspect {
  Name: string;
  Id: string;
  Created: string;
  Scope: 'local';
  Driver: string;
  EnableIPv6: boolean;
  IPAM: {
    Driver: 'default';
    Options: Record<string, string>;
    Config: { Subnet: string; Gateway: string; IPRange?: string }[];
  };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<
    string,
    { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }
  >;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}
