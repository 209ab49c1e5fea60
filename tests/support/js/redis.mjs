// A throwaway redis-server on a free loopback port, for tests of the Redis engine: no persistence,
// in the foreground as a child process, stopped (or killed) by stop(). Its output is kept (last
// lines) for failure messages.
//
//   const redis = await RedisServer.start();
//   Gateway.start([`--broker=${redis.url}`]); ...; await redis.stop();
//
// REDIS_SERVER names the binary (default: redis-server on the PATH).
import { spawn } from 'node:child_process';
import net from 'node:net';
import { readLines } from './gateway.mjs';

const STARTUP_TIMEOUT_MS = 10_000;
const SHUTDOWN_TIMEOUT_MS = 5_000;
const READY_RE = /ready to accept connections/i;

/** A loopback port nothing listens on right now (bound to port 0, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Sends PING over a fresh connection; resolves true when the answer is +PONG. */
function ping(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => {
      answer += chunk;
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

export class RedisServer {
  /** Starts redis-server on a free port and waits until it answers PING. */
  static async start({ binary = process.env.REDIS_SERVER || 'redis-server', args = [] } = {}) {
    // Another process may take the port between freePort() and the bind: try a few.
    let lastError;
    for (let attempt = 0; attempt < 3; ++attempt) {
      const server = new RedisServer(binary, await freePort(), args);
      try {
        await server.ready();
        return server;
      } catch (error) {
        lastError = error;
        await server.stop();
      }
    }
    throw lastError;
  }

  constructor(binary, port, args) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.lines = [];
    this.process = spawn(
      binary,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.exited = new Promise((resolve) => {
      this.process.on('error', (error) => {
        this.lines.push(`cannot run ${binary}: ${error.message}`);
        resolve(error.code);
      });
      this.process.on('exit', (code, signal) => resolve(signal ?? code));
    });
    this.sawReady = false;
    for (const stream of [this.process.stdout, this.process.stderr]) {
      readLines(stream, (line) => {
        if (READY_RE.test(line)) this.sawReady = true;
        this.lines.push(line);
        if (this.lines.length > 100) this.lines.shift();
      });
    }
  }

  // Resolves once the server says it is ready, or answers PING; rejects if it exits first.
  async ready() {
    let exited = false;
    this.exited.then(() => (exited = true));
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    for (;;) {
      if (exited) throw new Error(`redis-server exited before it was ready\n${this.log()}`);
      if (this.sawReady || (await ping(this.port))) return;
      if (Date.now() > deadline) {
        throw new Error(`redis-server did not answer within ${STARTUP_TIMEOUT_MS} ms\n${this.log()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** SIGTERM, then SIGKILL if it is still there after a few seconds. Safe to call twice. */
  async stop() {
    const running = () => this.process.exitCode === null && this.process.signalCode === null;
    if (this.process.pid === undefined || !running()) return;
    this.process.kill('SIGTERM');
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(resolve, SHUTDOWN_TIMEOUT_MS);
    });
    await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (running()) {
      this.process.kill('SIGKILL');
      await this.exited;
    }
  }

  log() {
    return this.lines.join('\n');
  }
}
