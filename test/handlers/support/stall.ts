/**
 * Endpoints that fail the way networks do: a TCP server that accepts and never answers (a stalled
 * Secrets Manager, KMS or PostgreSQL), and a TCP proxy to PostgreSQL that forwards until the client sends a
 * marker, then swallows everything on that connection (a server that stops answering mid-run).
 */
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Stalled {
  port: number;
  url: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

async function listen(server: Server, sockets: Set<Socket>) {
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Accepts every connection and never sends a byte. */
export async function startStalledEndpoint(): Promise<Stalled> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer(() => void accepted++);
  const { port, close } = await listen(server, sockets);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    close,
  };
}

export interface StallingProxy extends Stalled {
  /** Connections that saw the marker and went silent. */
  readonly stalled: number;
}

export interface CuttingProxy extends Stalled {
  /** Connections cut so far. */
  readonly cut: number;
}

/**
 * Forwards to host:port until a client sends `marker`, then does `onMarker` to that connection:
 * - 'stall': silent both ways from then on (the marker is not forwarded). Nothing reaches the client any
 *   more, not even the server closing the session: the client only learns by its own deadline.
 * - 'cut': cut both ways at once, as when a network path or a proxy in between dies mid-statement.
 */
async function startMarkerProxy(host: string, upstreamPort: number, marker: string, onMarker: 'stall' | 'cut') {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let hits = 0;
  const server = createServer((client) => {
    accepted++;
    const upstream = tcpConnect(upstreamPort, host);
    sockets.add(upstream);
    let silent = false;
    client.on('data', (chunk) => {
      if (!silent && chunk.includes(marker)) {
        hits++;
        if (onMarker === 'cut') {
          upstream.destroy();
          client.destroy();
          return;
        }
        silent = true;
      }
      if (!silent) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!silent) client.write(chunk);
    });
    // A closed client closes the upstream (its FIN still gets through); a silent connection hides the
    // upstream's end from the client.
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => silent || client.destroy());
    upstream.on('error', () => silent || client.destroy());
  });
  const { port, close } = await listen(server, sockets);
  return { port, url: `tcp://127.0.0.1:${port}`, accepted: () => accepted, hits: () => hits, close };
}

/** Forwards to host:port until a client sends `marker`; from then on that connection is silent both ways. */
export async function startStallingProxy(host: string, upstreamPort: number, marker: string): Promise<StallingProxy> {
  const p = await startMarkerProxy(host, upstreamPort, marker, 'stall');
  return {
    port: p.port,
    url: p.url,
    get accepted() {
      return p.accepted();
    },
    get stalled() {
      return p.hits();
    },
    close: p.close,
  };
}

/**
 * Forwards to host:port until a client sends `marker`; then that connection is cut both ways at once (the
 * marker is not forwarded): the server sees its client vanish, the client sees its server vanish.
 */
export async function startCuttingProxy(host: string, upstreamPort: number, marker: string): Promise<CuttingProxy> {
  const p = await startMarkerProxy(host, upstreamPort, marker, 'cut');
  return {
    port: p.port,
    url: p.url,
    get accepted() {
      return p.accepted();
    },
    get cut() {
      return p.hits();
    },
    close: p.close,
  };
}
