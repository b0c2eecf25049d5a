/**
 * The Dockerfile as parsed, before any variable is expanded: words keep their quotes and `$`
 * references, because which variables apply depends on the build stage (ARG/ENV scoping) and
 * is the frontend's business, not the parser's. Lines and columns are 1-based.
 */

export interface Directives {
  /** `# syntax=`; undefined when absent. */
  syntax?: string;
  /** `# escape=`: a backslash or a backtick. */
  escape: '\\' | '`';
  /** `# check=` (BuildKit's lint switches), kept verbatim. */
  check?: string;
}

/** `<<EOF` (expand: true) / `<<"EOF"` / `<<'EOF'` (expand: false); `<<-EOF` strips leading tabs (chomp). */
export interface Heredoc {
  name: string;
  /** The body without the terminator line, each line ending in "\n"; tabs already stripped for `<<-`. */
  content: string;
  expand: boolean;
  chomp: boolean;
}

/** `--name=value` before an instruction's arguments; `--link` alone has value undefined. */
export interface InstructionFlag {
  name: string;
  value: string | undefined;
  line: number;
  column: number;
}

interface Base {
  line: number;
  /** Last physical line, after continuations and heredoc bodies. */
  endLine: number;
  /** The instruction as written, continuations joined with the escape char and newline removed. */
  original: string;
  flags: InstructionFlag[];
  /** Heredocs opened on this instruction's line, in order. */
  heredocs: Heredoc[];
}

/** RUN/CMD/ENTRYPOINT/SHELL argument forms. */
export interface CommandArgs {
  /** true: the JSON exec form; `args` are the array's strings (already JSON-decoded, no expansion applies). */
  json: boolean;
  /** Exec form: the array. Shell form: one element, the command text as written (continuations joined). */
  args: string[];
}

export interface KeyValue {
  key: string;
  /** Raw word (quotes kept), undefined for `ARG name` with no default. */
  value: string | undefined;
}

export type Instruction =
  | (Base & { kind: 'FROM'; image: string; stageName?: string })
  | (Base & { kind: 'RUN' } & CommandArgs)
  | (Base & { kind: 'CMD' } & CommandArgs)
  | (Base & { kind: 'ENTRYPOINT' } & CommandArgs)
  | (Base & { kind: 'SHELL' } & CommandArgs)
  /** Both `LABEL k=v k2=v2` and the legacy `ENV k v` form end up as pairs. */
  | (Base & { kind: 'LABEL'; pairs: KeyValue[] })
  | (Base & { kind: 'ENV'; pairs: KeyValue[] })
  | (Base & { kind: 'ARG'; args: KeyValue[] })
  | (Base & { kind: 'EXPOSE'; ports: string[] })
  | (Base & { kind: 'VOLUME'; json: boolean; paths: string[] })
  | (Base & { kind: 'USER'; user: string })
  | (Base & { kind: 'WORKDIR'; path: string })
  | (Base & { kind: 'STOPSIGNAL'; signal: string })
  | (Base & { kind: 'MAINTAINER'; name: string })
  /** `sources` may contain `<<NAME` entries naming one of `heredocs`. */
  | (Base & { kind: 'COPY'; json: boolean; sources: string[]; dest: string })
  | (Base & { kind: 'ADD'; json: boolean; sources: string[]; dest: string })
  /** `HEALTHCHECK NONE` → none: true, command undefined. */
  | (Base & { kind: 'HEALTHCHECK'; none: boolean; command?: CommandArgs })
  /** The trigger, parsed as an instruction of its own (never FROM, ONBUILD or MAINTAINER). */
  | (Base & { kind: 'ONBUILD'; trigger: Instruction; triggerText: string });

export type InstructionKind = Instruction['kind'];

export interface Dockerfile {
  directives: Directives;
  instructions: Instruction[];
  /** Warnings a user should see (e.g. an empty continuation line), with their line. */
  warnings: { line: number; message: string }[];
}
