import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError } from '../util/errors.ts';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

function readLines(rootfs: string, file: string): string[][] {
  try {
    return readFileSync(join(rootfs, file), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

/** Resolves docker's `-u user[:group]` against the container's own /etc/passwd and /etc/group. */
export function resolveUser(rootfs: string, spec: string): ResolvedUser {
  const [userPart = '', groupPart] = (spec || '0').split(':');
  const passwd = readLines(rootfs, 'etc/passwd');
  const groups = readLines(rootfs, 'etc/group');
  const isNum = (s: string) => /^\d+$/.test(s);
  let uid: number;
  let gid = 0;
  let home = '/';
  let name: string | undefined;
  const entry = passwd.find((p) => (isNum(userPart) ? p[2] === userPart : p[0] === userPart));
  if (entry) {
    uid = Number(entry[2]);
    gid = Number(entry[3]);
    home = entry[5] || '/';
    name = entry[0];
  } else if (isNum(userPart)) {
    uid = Number(userPart);
  } else {
    throw new BerthError(`unable to find user ${userPart}: no matching entries in passwd file`, 126);
  }
  if (groupPart !== undefined && groupPart !== '') {
    const g = groups.find((x) => (isNum(groupPart) ? x[2] === groupPart : x[0] === groupPart));
    if (g) gid = Number(g[2]);
    else if (isNum(groupPart)) gid = Number(groupPart);
    else throw new BerthError(`unable to find group ${groupPart}: no matching entries in group file`, 126);
  }
  // As docker: the primary group is listed among the process's groups, then the user's other groups.
  const additionalGids = [gid];
  if (name) {
    for (const g of groups) {
      const id = Number(g[2]);
      if ((g[3] ?? '').split(',').includes(name) && !additionalGids.includes(id)) additionalGids.push(id);
    }
  }
  return { uid, gid, additionalGids, home };
}
