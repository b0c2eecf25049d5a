import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
  sign,
  verify,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import bcrypt from 'bcryptjs';
import { BerthError } from '../../util/errors.ts';
import { RegistryError } from './errors.ts';

export type Action = 'pull' | 'push' | 'delete';
export const ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];

/**
 * A per-repository rule: `repository` is a glob (`*` within one path component, `**` across them),
 * `users` names htpasswd users, `*` for any authenticated user, `anonymous` for requests without
 * credentials. The first rule matching both decides; with rules configured, anything unmatched is
 * denied (except anonymous pulls when anonymousRead is on).
 */
export interface AccessRule {
  repository: string;
  users: string[];
  actions: Action[];
}

export interface TokenConfig {
  /** Absolute URL of the token endpoint; by default this server's own `/token`. */
  realm?: string;
  service: string;
  issuer: string;
  /** PEM private key (EC P-256 or RSA); by default a P-256 key generated at start. */
  key?: string;
  expirySeconds: number;
}

export interface AuthConfig {
  htpasswd?: string;
  anonymousRead: boolean;
  token?: TokenConfig;
  access: AccessRule[];
}

/** What a request needs: `repository:<name>:<actions>` or `registry:catalog:*`. */
export interface Need {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}

interface AccessClaim {
  type: string;
  name: string;
  actions: string[];
}

interface Claims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: AccessClaim[];
}

/** 401 with the challenge a client needs to authenticate. */
export class AuthChallenge extends RegistryError {
  constructor(
    readonly challenge: string,
    message = 'authentication required',
    detail?: unknown,
  ) {
    super('UNAUTHORIZED', message, detail);
  }
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function globRe(pattern: string): RegExp {
  const re = pattern
    .split('**')
    .map((part) =>
      part
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*'),
    )
    .join('.*');
  return new RegExp(`^${re}$`);
}

function parseHtpasswd(file: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new BerthError(`cannot read htpasswd file ${file}: ${(e as Error).message}`);
  }
  const users = new Map<string, string>();
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (!l || l.startsWith('#')) continue;
    const i = l.indexOf(':');
    const hash = l.slice(i + 1);
    if (i <= 0 || !/^\$2[abxy]?\$\d\d\$/.test(hash))
      throw new BerthError(`htpasswd file ${file}: only bcrypt entries (htpasswd -B) are supported`);
    users.set(l.slice(0, i), hash);
  }
  return users;
}

/** `repository:a/b:pull,push` → Need; the name may itself hold colons (a registry host with a port). */
export function parseScope(s: string): Need | undefined {
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const type = s.slice(0, first);
  if (type !== 'repository' && type !== 'registry') return undefined;
  return {
    type,
    name: s.slice(first + 1, last),
    actions: s
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

export class Auth {
  private users = new Map<string, string>();
  private verified = new Map<string, string>();
  private rules: Array<{ re: RegExp; users: string[]; actions: Action[] }>;
  private key: KeyObject | undefined;
  private publicKey: KeyObject | undefined;
  private alg = 'ES256';
  private tokens = new Map<string, Claims>();

  constructor(readonly cfg: AuthConfig) {
    if (cfg.htpasswd) this.users = parseHtpasswd(cfg.htpasswd);
    this.rules = cfg.access.map((r) => ({ re: globRe(r.repository), users: r.users, actions: r.actions }));
    if (cfg.token) {
      this.key = cfg.token.key
        ? createPrivateKey(readFileSync(cfg.token.key))
        : generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      this.publicKey = createPublicKey(this.key);
      const kind = this.key.asymmetricKeyType;
      if (kind === 'rsa') this.alg = 'RS256';
      else if (kind !== 'ec' || this.key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
        throw new BerthError('the token signing key must be EC P-256 (ES256) or RSA (RS256)');
    }
  }

  get enabled(): boolean {
    return this.cfg.htpasswd !== undefined || this.cfg.token !== undefined;
  }

  get tokenMode(): boolean {
    return this.cfg.token !== undefined;
  }

  /** The actions `user` (undefined: anonymous) may take on a repository. */
  allowed(user: string | undefined, repo: string): Set<Action> {
    const out = new Set<Action>();
    if (user === undefined && this.cfg.anonymousRead) out.add('pull');
    if (this.rules.length === 0) {
      if (user !== undefined) for (const a of ACTIONS) out.add(a);
      return out;
    }
    for (const r of this.rules) {
      if (!r.re.test(repo)) continue;
      const who = user === undefined ? 'anonymous' : user;
      if (!r.users.includes(who) && !(user !== undefined && r.users.includes('*'))) continue;
      for (const a of r.actions) out.add(a);
      break;
    }
    return out;
  }

  private grants(user: string | undefined, need: Need): string[] {
    if (need.type === 'registry')
      return need.name === 'catalog' && (user !== undefined || this.cfg.anonymousRead)
        ? need.actions.filter((a) => a === '*')
        : [];
    const may = this.allowed(user, need.name);
    return need.actions.filter((a) => may.has(a as Action));
  }

  /**
   * The user named by Basic credentials: undefined for none (or an empty user, which some clients
   * send when they have no credentials); 401 for a wrong password.
   */
  async basicUser(header: string | undefined): Promise<string | undefined> {
    if (!header?.toLowerCase().startsWith('basic ')) return undefined;
    const raw = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const i = raw.indexOf(':');
    const user = i < 0 ? raw : raw.slice(0, i);
    const password = i < 0 ? '' : raw.slice(i + 1);
    if (user === '') return undefined;
    // bcrypt costs milliseconds by design: remember passwords already checked (by their hash).
    const key = createHash('sha256').update(`${user}\0${password}`).digest('hex');
    if (this.verified.get(key) === user) return user;
    const hash = this.users.get(user);
    if (!hash || !(await bcrypt.compare(password, hash.replace(/^\$2y\$/, '$2b$'))))
      throw new RegistryError('UNAUTHORIZED', 'incorrect username or password');
    if (this.verified.size > 1000) this.verified.clear();
    this.verified.set(key, user);
    return user;
  }

  private realm(base: string): string {
    return this.cfg.token?.realm ?? `${base}/token`;
  }

  private challenge(base: string, need: Need | undefined, error?: string): string {
    if (!this.cfg.token) return 'Basic realm="berth-registry"';
    let c = `Bearer realm="${this.realm(base)}",service="${this.cfg.token.service}"`;
    if (need) c += `,scope="${need.type}:${need.name}:${need.actions.join(',')}"`;
    if (error) c += `,error="${error}"`;
    return c;
  }

  /**
   * Lets a request through or throws: 401 with a challenge when credentials are missing, wrong or
   * too narrow, 403 DENIED when an authenticated user lacks the right. `need` undefined is the
   * base endpoint `/v2/`, which with auth on wants credentials (or a token) of any kind.
   */
  async check(req: IncomingMessage, need: Need | undefined, base: string): Promise<void> {
    if (!this.enabled) return;
    const header = req.headers.authorization;
    if (this.cfg.token) {
      const claims = header?.toLowerCase().startsWith('bearer ')
        ? this.verifyToken(header.slice(7).trim())
        : undefined;
      if (!claims) throw new AuthChallenge(this.challenge(base, need));
      if (!need) return;
      const granted = new Set(
        claims.access.filter((a) => a.type === need.type && a.name === need.name).flatMap((a) => a.actions),
      );
      if (need.actions.every((a) => granted.has(a))) return;
      throw new AuthChallenge(this.challenge(base, need, 'insufficient_scope'), 'insufficient scope', {
        scope: `${need.type}:${need.name}:${need.actions.join(',')}`,
      });
    }
    let user: string | undefined;
    try {
      user = await this.basicUser(header);
    } catch (e) {
      if (e instanceof RegistryError) throw new AuthChallenge(this.challenge(base, need), e.message);
      throw e;
    }
    if (!need) {
      if (user === undefined) throw new AuthChallenge(this.challenge(base, need));
      return;
    }
    const granted = this.grants(user, need);
    if (need.actions.every((a) => granted.includes(a))) return;
    if (user === undefined) throw new AuthChallenge(this.challenge(base, need));
    throw new RegistryError('DENIED', `requested access to ${need.name} is denied`, {
      scope: `${need.type}:${need.name}:${need.actions.join(',')}`,
    });
  }

  /** The token endpoint (GET with `service`, `scope`s and optional Basic credentials). */
  async issueToken(req: IncomingMessage, query: URLSearchParams): Promise<Record<string, unknown>> {
    const t = this.cfg.token!;
    const user = await this.basicUser(req.headers.authorization);
    const service = query.get('service');
    if (service && service !== t.service)
      throw new RegistryError('DENIED', `this token endpoint serves "${t.service}", not "${service}"`);
    const access: AccessClaim[] = [];
    for (const s of query.getAll('scope').flatMap((v) => v.split(' '))) {
      const need = parseScope(s);
      if (!need) continue;
      const actions = this.grants(user, need);
      access.push({ type: need.type, name: need.name, actions });
    }
    const now = Math.floor(Date.now() / 1000);
    const claims: Claims = {
      iss: t.issuer,
      sub: user ?? '',
      aud: t.service,
      exp: now + t.expirySeconds,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const token = this.signJwt(claims);
    return {
      token,
      access_token: token,
      expires_in: t.expirySeconds,
      issued_at: new Date(now * 1000).toISOString(),
    };
  }

  private signJwt(claims: Claims): string {
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: this.alg }));
    const input = `${header}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(input), { key: this.key!, dsaEncoding: 'ieee-p1363' });
    return `${input}.${b64url(sig)}`;
  }

  /** The claims of a token this server signed and that is still valid for its service, or undefined. */
  verifyToken(token: string): Claims | undefined {
    const now = Date.now() / 1000;
    let claims = this.tokens.get(token);
    if (!claims) {
      const parts = token.split('.');
      if (parts.length !== 3) return undefined;
      try {
        const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as { alg?: string };
        if (header.alg !== this.alg) return undefined;
        const ok = verify(
          'sha256',
          Buffer.from(`${parts[0]}.${parts[1]}`),
          { key: this.publicKey!, dsaEncoding: 'ieee-p1363' },
          Buffer.from(parts[2]!, 'base64url'),
        );
        if (!ok) return undefined;
        claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Claims;
      } catch {
        return undefined;
      }
      if (claims.aud !== this.cfg.token!.service || claims.iss !== this.cfg.token!.issuer) return undefined;
      if (!Array.isArray(claims.access)) return undefined;
      if (this.tokens.size > 1000) this.tokens.clear();
      this.tokens.set(token, claims);
    }
    if (claims.exp < now || claims.nbf > now) {
      this.tokens.delete(token);
      return undefined;
    }
    return claims;
  }
}
