import { type CommandSpec, flagStrings } from '../flags.ts';
import type { Command } from '../registry.ts';

const DEFAULT_HOST = 'unix:///run/berth/berth.sock';

const serveSpec: CommandSpec = {
  name: 'serve',
  usage: 'berth serve [OPTIONS]',
  description: 'Serve the Docker Engine API (docker CLI, docker-compose and SDKs work against it)',
  interspersed: true,
  maxArgs: 0,
  flags: [
    {
      name: 'host',
      short: 'H',
      kind: 'stringArray',
      description: `Socket to listen on: unix:///path or tcp://127.0.0.1:PORT, repeatable (default ${DEFAULT_HOST})`,
    },
  ],
};

/** Runs in the foreground until SIGTERM or SIGINT; containers keep running when it stops. */
export const serveCmd: Command = {
  spec: serveSpec,
  async run(ctx, p) {
    const hosts = flagStrings(p, serveSpec, 'host');
    const { startServer } = await import('../../api/server.ts');
    const server = await startServer(await ctx.engine(), hosts.length ? hosts : [DEFAULT_HOST]);
    ctx.err.write(`berth serve: listening on ${(hosts.length ? hosts : [DEFAULT_HOST]).join(', ')}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    await server.close();
    return 0;
  },
};
