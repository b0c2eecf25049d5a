import { BerthError, InvalidArgumentError } from '../util/errors.ts';
import { RegistryClient, RegistryError } from './client.ts';
import { getCredentials, registryHostname, removeCredentials, storeCredentials } from './credentials.ts';

/** `logout` of a registry Berth holds no credentials for; the CLI prints it as docker does. */
export class NotLoggedInError extends BerthError {
  constructor(readonly server: string) {
    super(`Not logged in to ${server}`);
    this.name = 'NotLoggedInError';
  }
}

/** Checks the credentials against the registry (GET /v2/, through its token flow) and stores them. */
export async function login(server: string, username: string, password: string): Promise<string> {
  const host = registryHostname(server);
  if (!host)
    throw new InvalidArgumentError('login: no registry named; want a host such as registry.example:5000');
  if (!username) throw new InvalidArgumentError('login: a username is required');
  if (!password) throw new InvalidArgumentError('login: a password is required');
  const client = new RegistryClient(host, { credentials: { username, password } });
  try {
    await client.ping();
  } catch (err) {
    if (err instanceof RegistryError && err.unauthorized) {
      throw new BerthError(`login to ${host} failed: ${err.message}`, 125, 'invalid');
    }
    throw err;
  }
  storeCredentials(host, { username, password });
  return 'Login Succeeded';
}

export async function logout(server: string): Promise<void> {
  const host = registryHostname(server);
  if (!removeCredentials(host)) throw new NotLoggedInError(host);
}

/** The stored credentials for a registry, for `login` without a username (docker reuses them). */
export function storedLogin(server: string): { username: string; password: string } | undefined {
  return getCredentials(registryHostname(server));
}
