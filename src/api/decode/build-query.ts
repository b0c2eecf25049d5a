import type { BuildOptions } from '../../build/types.ts';
import { InvalidArgumentError } from '../../util/errors.ts';
import { queryBool, queryJsonMap, queryList, queryString } from './fields.ts';

export interface BuildQuery {
  options: Omit<BuildOptions, 'context'>;
  quiet: boolean;
  /** Things the client asked for that Berth's builder does not do, said once in the output. */
  notes: string[];
}

type Query = Record<string, unknown>;

/**
 * `POST /build`'s query (moby's imageBuildOptionsToQuery is the other side). The Go client sends
 * every field, zero or not, so only values that ask for something are looked at.
 */
export function decodeBuildQuery(q: Query): BuildQuery {
  const remote = queryString(q.remote);
  if (remote)
    throw new InvalidArgumentError(
      `remote build contexts (${remote}) are not supported: send the context as a tar body`,
    );
  const notes: string[] = [];
  if (queryString(q.cachefrom) && queryString(q.cachefrom) !== '[]' && queryString(q.cachefrom) !== 'null')
    notes.push('cache-from is ignored: Berth reuses its own build cache only');
  for (const k of ['memory', 'memswap', 'cpushares', 'cpuquota', 'cpuperiod', 'shmsize']) {
    const v = queryString(q[k]);
    if (v && v !== '0' && v !== '-1') notes.push(`${k} is ignored: RUN steps get no resource limits`);
  }
  if (queryBool(q.squash)) notes.push('squash is ignored');
  const network = queryString(q.networkmode);
  const dockerfile = queryString(q.dockerfile);
  const extraHosts = queryList(q.extrahosts)
    .flatMap((h) => h.split(/[,\s]+/))
    .filter(Boolean);
  const platform = queryString(q.platform);
  return {
    options: {
      dockerfile: dockerfile ? { path: dockerfile } : undefined,
      tags: queryList(q.t).filter(Boolean),
      buildArgs: queryJsonMap(q.buildargs, 'buildargs'),
      target: queryString(q.target) || undefined,
      labels: queryJsonMap(q.labels, 'labels'),
      noCache: queryBool(q.nocache),
      pull: queryBool(q.pull),
      secrets: [],
      network: network && network !== 'default' ? network : undefined,
      platform: platform || undefined,
      outputs: [{ type: 'image' }],
      extraHosts: extraHosts.length ? extraHosts : undefined,
    },
    quiet: queryBool(q.q),
    notes,
  };
}
