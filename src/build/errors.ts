import { BerthError } from '../util/errors.ts';

/** A build that failed at a Dockerfile instruction: the lines are for the excerpt users get. */
export class BuildStepError extends BerthError {
  constructor(
    message: string,
    readonly line: number,
    readonly endLine: number,
    readonly exitStatus: number,
  ) {
    super(message, 1);
    this.name = 'BuildStepError';
  }
}

/** BuildKit's excerpt of the Dockerfile around a failing instruction. */
export function dockerfileExcerpt(name: string, text: string, line: number, endLine: number): string {
  const lines = text.split('\n');
  const from = Math.max(1, line - 2);
  const to = Math.min(lines.length, endLine + 2);
  const out = [`${name}:${line}`, '--------------------'];
  for (let i = from; i <= to; i++) {
    const mark = i >= line && i <= endLine ? '>>>' : '   ';
    out.push(`${String(i).padStart(4)} | ${mark} ${lines[i - 1] ?? ''}`);
  }
  out.push('--------------------');
  return out.join('\n');
}

/** A RUN whose process exited non-zero. */
export class StepFailedError extends BerthError {
  constructor(
    message: string,
    readonly exitStatus: number,
  ) {
    super(message, 1);
  }
}
