import net from 'node:net';

/** Whether nothing listens on 127.0.0.1:`port`. */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A random base port in [from, from + span) such that every `base + offset` is free. */
export async function findFreePortBase(offsets: number[], from = 20_000, span = 9_000): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = from + Math.floor(Math.random() * span);
    if ((await Promise.all(offsets.map((offset) => isPortFree(base + offset)))).every(Boolean)) return base;
  }
  throw new Error(`no free ports found between ${from} and ${from + span}`);
}

/** Whether something accepts connections on 127.0.0.1:`port`. */
export function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
