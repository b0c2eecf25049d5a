import type { Credentials } from '../../registry/credentials.ts';
import { InvalidArgumentError } from '../../util/errors.ts';
import { objectOf, str } from './fields.ts';

const FIELDS = ['username', 'password', 'auth', 'email', 'serveraddress', 'identitytoken', 'registrytoken'];

/**
 * The `X-Registry-Auth` header: base64url of docker's AuthConfig JSON. Absent or `{}`: undefined,
 * and the pull uses the credentials stored on the server. An identity token (an OAuth refresh token
 * from Docker Hub's login) cannot be used by Berth's registry client: refused rather than ignored.
 */
export function decodeRegistryAuth(header: string | string[] | undefined): Credentials | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (!h) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidArgumentError('X-Registry-Auth: not base64-encoded JSON');
  }
  // Unknown fields are ignored here: clients send what their config.json holds.
  const o = objectOf(parsed, 'X-Registry-Auth');
  for (const k of Object.keys(o)) if (!FIELDS.includes(k)) delete o[k];
  if (str(o, 'identitytoken', 'X-Registry-Auth') || str(o, 'registrytoken', 'X-Registry-Auth'))
    throw new InvalidArgumentError(
      'X-Registry-Auth: identity and registry tokens are not supported; send username and password',
    );
  let username = str(o, 'username', 'X-Registry-Auth') ?? '';
  let password = str(o, 'password', 'X-Registry-Auth') ?? '';
  const auth = str(o, 'auth', 'X-Registry-Auth');
  if (!username && auth) {
    const plain = Buffer.from(auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon > 0) [username, password] = [plain.slice(0, colon), plain.slice(colon + 1)];
  }
  if (!username) return undefined;
  return { username, password };
}

export function encodeRegistryAuth(c: Credentials, serveraddress: string): string {
  return Buffer.from(JSON.stringify({ username: c.username, password: c.password, serveraddress })).toString(
    'base64url',
  );
}
