import type { ExecOptions } from '../../container/exec.ts';
import { InvalidArgumentError } from '../../util/errors.ts';
import { bodyObject, bool, str, strSlice, strs } from './json-fields.ts';

export interface DecodedExec {
  options: ExecOptions;
  attachStdout: boolean;
  attachStderr: boolean;
  detachKeys?: string;
}

/** `POST /containers/{id}/exec`: docker's ExecConfig. */
export function decodeExecCreate(body: unknown): DecodedExec {
  const b = bodyObject(body, 'container.ExecOptions');
  const P = 'ExecOptions';
  const cmd = strSlice(b, 'Cmd', P) ?? [];
  if (cmd.length === 0) throw new InvalidArgumentError('No exec command specified');
  return {
    options: {
      cmd,
      env: strs(b, 'Env', P) ?? [],
      workingDir: str(b, 'WorkingDir', P) || undefined,
      user: str(b, 'User', P) || undefined,
      tty: bool(b, 'Tty', P) ?? false,
      stdin: bool(b, 'AttachStdin', P) ?? false,
      detach: bool(b, 'Detach', P) ?? false,
      privileged: bool(b, 'Privileged', P) ?? false,
    },
    attachStdout: bool(b, 'AttachStdout', P) ?? false,
    attachStderr: bool(b, 'AttachStderr', P) ?? false,
    detachKeys: str(b, 'DetachKeys', P) || undefined,
  };
}

/** `POST /exec/{id}/start`: docker's ExecStartCheck. */
export function decodeExecStart(body: unknown): {
  detach: boolean;
  tty?: boolean;
  consoleSize?: { rows: number; cols: number };
} {
  const b = bodyObject(body, 'container.ExecStartOptions');
  const P = 'ExecStartOptions';
  const cs = b.ConsoleSize;
  let consoleSize: { rows: number; cols: number } | undefined;
  if (
    Array.isArray(cs) &&
    cs.length === 2 &&
    cs.every((n) => typeof n === 'number') &&
    cs[0] > 0 &&
    cs[1] > 0
  )
    consoleSize = { rows: cs[0] as number, cols: cs[1] as number };
  return { detach: bool(b, 'Detach', P) ?? false, tty: bool(b, 'Tty', P), consoleSize };
}
