import { closeSync, constants, openSync, writeSync } from 'node:fs';

/**
 * Sends a window-size change to conmon through its `ctl` FIFO. Non-blocking: once conmon has
 * exited the FIFO has no reader, and a blocking open would hang forever.
 */
export function writeResize(ctlPath: string, rows: number, cols: number): void {
  let fd: number;
  try {
    fd = openSync(ctlPath, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return; // no conmon listening: the process is gone
  }
  try {
    writeSync(fd, `1 ${rows} ${cols}\n`);
  } catch {
    // a full FIFO drops the event; the next resize carries the current size anyway
  } finally {
    closeSync(fd);
  }
}
