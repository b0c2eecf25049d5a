import { InvalidArgumentError } from '../../util/errors.ts';
import { objectOf, str, strMap } from './fields.ts';

export interface VolumeCreateBody {
  name?: string;
  labels: Record<string, string>;
  options: Record<string, string>;
}

const FIELDS = ['Name', 'Driver', 'DriverOpts', 'Labels', 'ClusterVolumeSpec'];

/** docker's VolumeCreateOptions (POST /volumes/create). */
export function decodeVolumeCreate(body: unknown): VolumeCreateBody {
  const o = objectOf(body, 'volume', FIELDS);
  const driver = str(o, 'Driver', 'volume');
  if (driver && driver !== 'local')
    throw new InvalidArgumentError(`volume driver "${driver}" is not supported: only "local"`);
  if (o.ClusterVolumeSpec)
    throw new InvalidArgumentError('cluster volumes need swarm, which Berth does not run');
  return {
    name: str(o, 'Name', 'volume') || undefined,
    labels: strMap(o, 'Labels', 'volume'),
    options: strMap(o, 'DriverOpts', 'volume'),
  };
}
