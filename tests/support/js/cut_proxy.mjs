// A TCP proxy in front of the gateway that the tests control: cut() drops every connection at
// once (what a network failure or a load balancer restart does to clients), and
// refuseUpgrades answers every WebSocket upgrade with 403 (a proxy that does not pass them).
import net from 'node:net';

export class CutProxy {
  static async start(targetPort, { refuseUpgrades = false } = {}) {
    const proxy = new CutProxy(targetPort, refuseUpgrades);
    await new Promise((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.port = proxy.server.address().port;
    proxy.url = `http://127.0.0.1:${proxy.port}`;
    return proxy;
  }

  constructor(targetPort, refuseUpgrades) {
    this.sockets = new Set();
    this.cuts = 0;
    this.server = net.createServer((client) => {
      this.track(client);
      client.once('data', (first) => {
        if (refuseUpgrades && /^upgrade:\s*websocket/im.test(first.toString('latin1'))) {
          client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
          return;
        }
        const upstream = net.connect(targetPort, '127.0.0.1');
        this.track(upstream);
        upstream.write(first);
        client.pipe(upstream).pipe(client);
        const destroyBoth = () => {
          client.destroy();
          upstream.destroy();
        };
        client.on('close', destroyBoth);
        upstream.on('close', destroyBoth);
      });
    });
  }

  track(socket) {
    this.sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => this.sockets.delete(socket));
  }

  /** Drops every open connection (clients see them reset). */
  cut() {
    this.cuts++;
    for (const socket of this.sockets) socket.resetAndDestroy?.() ?? socket.destroy();
  }

  async close() {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
