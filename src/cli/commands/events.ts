import type { EventMessage } from '../../engine/events.ts';
import { parseFilters } from '../../engine/filters.ts';
import { type CommandSpec, flagString, flagStrings } from '../flags.ts';
import { renderOne } from '../format/render.ts';
import type { Command } from '../registry.ts';

const eventsSpec: CommandSpec = {
  name: 'events',
  usage: 'berth events [OPTIONS]',
  description: 'Get real time events from the server',
  interspersed: true,
  maxArgs: 0,
  flags: [
    {
      name: 'filter',
      short: 'f',
      kind: 'stringArray',
      description: 'Filter output based on conditions provided',
      valueName: 'filter',
    },
    { name: 'format', kind: 'string', description: 'Format output using a custom template' },
    { name: 'since', kind: 'string', description: 'Show all events created since timestamp' },
    { name: 'until', kind: 'string', description: 'Stream events until this timestamp' },
  ],
};

const FILTERS = ['type', 'container', 'image', 'event', 'label', 'network', 'volume', 'daemon', 'scope'];

/** RFC 3339 with nanoseconds in the local zone, as docker prints event times. */
function eventTime(timeNano: number, nanoText: string): string {
  const ms = Math.floor(timeNano / 1e6);
  const offMin = -new Date(ms).getTimezoneOffset();
  const local = new Date(ms + offMin * 60_000).toISOString().slice(0, 19);
  const frac = nanoText.slice(-9).padStart(9, '0');
  const zone =
    offMin === 0
      ? 'Z'
      : `${offMin > 0 ? '+' : '-'}${String(Math.floor(Math.abs(offMin) / 60)).padStart(2, '0')}:${String(Math.abs(offMin) % 60).padStart(2, '0')}`;
  return `${local}.${frac}${zone}`;
}

/** docker's default line: `<time> <type> <action> <id> (k=v, …)`, attributes sorted. */
export function eventLine(e: EventMessage): string {
  const attrs = Object.keys(e.Actor.Attributes)
    .sort()
    .map((k) => `${k}=${e.Actor.Attributes[k]}`)
    .join(', ');
  const nano = BigInt(Math.round(e.timeNano)).toString();
  return `${eventTime(e.timeNano, nano)} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs ? ` (${attrs})` : ''}\n`;
}

export const eventsCmd: Command = {
  spec: eventsSpec,
  async run(ctx, p) {
    const filters = parseFilters(flagStrings(p, eventsSpec, 'filter'), FILTERS);
    const format = flagString(p, eventsSpec, 'format');
    const engine = await ctx.engine();
    const ac = new AbortController();
    const stop = () => ac.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      for await (const e of engine.events(
        { since: flagString(p, eventsSpec, 'since'), until: flagString(p, eventsSpec, 'until'), filters },
        ac.signal,
      )) {
        ctx.out.write(format ? renderOne(e, format) : eventLine(e));
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    return 0;
  },
};
