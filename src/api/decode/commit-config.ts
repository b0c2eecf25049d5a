import { InvalidArgumentError } from '../../util/errors.ts';
import { bool, type JsonObject, objectOf, str, strList, strMap } from './fields.ts';

/** Container Config fields a commit body may carry (moby's container.Config). */
const FIELDS = [
  'Hostname',
  'Domainname',
  'User',
  'AttachStdin',
  'AttachStdout',
  'AttachStderr',
  'ExposedPorts',
  'Tty',
  'OpenStdin',
  'StdinOnce',
  'Env',
  'Cmd',
  'Healthcheck',
  'ArgsEscaped',
  'Image',
  'Volumes',
  'WorkingDir',
  'Entrypoint',
  'NetworkDisabled',
  'MacAddress',
  'OnBuild',
  'Labels',
  'StopSignal',
  'StopTimeout',
  'Shell',
];

/** Double-quoted as the change parser unquotes it: backslash before `"` and `\`, nothing else. */
const quote = (s: string): string => `"${s.replace(/["\\]/g, '\\$&')}"`;

const keys = (o: JsonObject, k: string, what: string): string[] =>
  Object.keys(objectOf(o[k], `${what}.${k}`));

/**
 * `POST /commit`'s body: a container Config whose set fields override the image config. Berth's
 * commit takes Dockerfile-style change lines, so each set field becomes one (as the CLI's
 * `--change` would give it); fields that only describe a running container are accepted and unused.
 */
export function decodeCommitConfig(body: unknown): string[] {
  const what = 'config';
  const o = objectOf(body, what, FIELDS);
  const out: string[] = [];
  const cmd = strList(o, 'Cmd', what);
  if (cmd) out.push(`CMD ${JSON.stringify(cmd)}`);
  const ep = strList(o, 'Entrypoint', what);
  if (ep) out.push(`ENTRYPOINT ${JSON.stringify(ep)}`);
  for (const e of strList(o, 'Env', what) ?? []) {
    const eq = e.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`${what}.Env: "${e}" is not NAME=value`);
    out.push(`ENV ${e.slice(0, eq)}=${quote(e.slice(eq + 1))}`);
  }
  for (const [k, v] of Object.entries(strMap(o, 'Labels', what))) out.push(`LABEL ${quote(k)}=${quote(v)}`);
  for (const p of keys(o, 'ExposedPorts', what)) out.push(`EXPOSE ${p}`);
  for (const v of keys(o, 'Volumes', what)) out.push(`VOLUME ${JSON.stringify([v])}`);
  const user = str(o, 'User', what);
  if (user) out.push(`USER ${user}`);
  const wd = str(o, 'WorkingDir', what);
  if (wd) out.push(`WORKDIR ${wd}`);
  const sig = str(o, 'StopSignal', what);
  if (sig) out.push(`STOPSIGNAL ${sig}`);
  for (const k of ['Tty', 'OpenStdin', 'StdinOnce', 'AttachStdin', 'AttachStdout', 'AttachStderr'])
    bool(o, k, what);
  return out;
}
