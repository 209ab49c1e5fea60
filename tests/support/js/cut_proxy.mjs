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
    this.targetPort = targetPort;
    this.sockets = new Set();
    this.cuts = 0;
    this.held = false;
    this.server = net.createServer((client) => {
      if (this.held) {
        client.resetAndDestroy();
        return;
      }
      this.track(client);
      client.once('data', (first) => {
        if (refuseUpgrades && /^upgrade:\s*websocket/im.test(first.toString('latin1'))) {
          client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
          return;
        }
        const upstream = net.connect(this.targetPort, '127.0.0.1');
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

  /** New connections go to `port` from now on (a gateway restarted elsewhere). */
  retarget(port) {
    this.targetPort = port;
  }

  /** Drops every open connection (clients see them reset). */
  cut() {
    this.cuts++;
    for (const socket of this.sockets) socket.resetAndDestroy();
  }

  /** Drops every connection and refuses new ones until release(): what clients see of a
   *  network outage. */
  hold() {
    this.held = true;
    this.cut();
  }

  release() {
    this.held = false;
  }

  async close() {
    this.hold();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
