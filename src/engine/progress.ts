/**
 * Progress of a long operation (pull, push, load), in the shape of docker's JSON messages so the
 * CLI can draw docker's per-layer lines and the API server can stream them unchanged.
 */
export interface ProgressEvent {
  /** Layer (short digest) or other item the line is about; none for whole-operation lines. */
  id?: string;
  status: string;
  current?: number;
  total?: number;
}

export type ProgressSink = (e: ProgressEvent) => void;

export const noProgress: ProgressSink = () => undefined;
