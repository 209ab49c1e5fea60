// The real herald binary on ephemeral ports, for the JavaScript tests (SDK, Node publishers,
// browser). Its output is kept (last lines) for failure messages.
//
//   const gateway = await Gateway.start(['--history_size=100']);
//   gateway.httpUrl, gateway.grpcTarget; await gateway.stop();
import { spawn } from 'node:child_process';

const LISTENING_RE = /herald listening http=(\S+):(\d+) grpc=(\S+):(\d+)/;
const STARTUP_TIMEOUT_MS = 20_000;
const SHUTDOWN_TIMEOUT_MS = 15_000;

export class Gateway {
  /** Starts HERALD_BIN (or `binary`) with `args` and waits until it listens: on ephemeral ports,
   *  or with `defaultAddresses` on its own defaults (127.0.0.1:8080 and :50051). */
  static async start(args = [], binary = process.env.HERALD_BIN, { defaultAddresses = false } = {}) {
    if (!binary) throw new Error('set HERALD_BIN to the gateway binary (build/bin/herald)');
    const listen = defaultAddresses ? [] : ['--http_listen=127.0.0.1:0', '--grpc_listen=127.0.0.1:0'];
    const gateway = new Gateway(binary, [...listen, ...args]);
    const ports = await gateway.listening;
    gateway.httpPort = ports.httpPort;
    gateway.grpcPort = ports.grpcPort;
    gateway.httpUrl = `http://127.0.0.1:${ports.httpPort}`;
    gateway.grpcTarget = `127.0.0.1:${ports.grpcPort}`;
    return gateway;
  }

  constructor(binary, args) {
    this.lines = [];
    this.process = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.process.on('exit', (code) => resolve(code)));
    this.listening = new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`gateway did not listen within ${STARTUP_TIMEOUT_MS} ms\n${this.log()}`)),
        STARTUP_TIMEOUT_MS,
      );
      this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`gateway exited with ${code} before listening\n${this.log()}`));
      });
      this.onLine = (line) => {
        const match = LISTENING_RE.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve({ httpPort: Number(match[2]), grpcPort: Number(match[4]) });
        }
      };
    });
    this.listening.catch(() => {}); // Awaited by start(); rejections are seen there.
    this.drain(this.process.stderr, true);
    this.drain(this.process.stdout, false);
  }

  // Reads a pipe for the whole life of the process, so the gateway never blocks on it.
  drain(stream, watch) {
    readLines(stream, (line) => {
      this.lines.push(line);
      if (this.lines.length > 200) this.lines.shift();
      if (watch) this.onLine(line);
    });
  }

  /** SIGTERM, then waits; the exit code, or null when it had to be killed. */
  async stop() {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return this.exited;
    this.process.kill('SIGTERM');
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(resolve, SHUTDOWN_TIMEOUT_MS);
    });
    const code = await Promise.race([this.exited, timeout.then(() => 'timeout')]);
    clearTimeout(timer);
    if (code !== 'timeout') return code;
    this.process.kill('SIGKILL');
    await this.exited;
    return null;
  }

  log() {
    return this.lines.join('\n');
  }
}

/** Runs a program to its end (in `cwd`, by default this process's); resolves {code, stdout,
 *  stderr}. */
export function run(program, args, { stdin = '', timeoutMs = 60_000, cwd = undefined } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal ? `killed by ${signal}` : code, stdout, stderr });
    });
    // A program that exits without reading its input makes this write fail (EPIPE): harmless.
    child.stdin.on('error', () => {});
    child.stdin.end(stdin);
  });
}

/** Publishes one event over gRPC with the herald-publish CLI (HERALD_PUBLISH); the offset. */
export async function publishWithCli(gateway, topic, data, extraArgs = []) {
  const binary = process.env.HERALD_PUBLISH;
  if (!binary) throw new Error('set HERALD_PUBLISH to build/bin/herald-publish');
  const result = await run(binary, [
    `--target=${gateway.grpcTarget}`,
    `--topic=${topic}`,
    `--data=${data}`,
    '--content_type=application/json',
    ...extraArgs,
  ]);
  if (result.code !== 0) {
    throw new Error(`herald-publish failed (${result.code}): ${result.stderr}\n${gateway.log()}`);
  }
  return Number(result.stdout.trim().split(/\s+/)[1]);
}

/** Resolves once `check()` is true, or rejects after `ms`. */
export async function until(check, ms = 10_000, what = String(check)) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Calls `onLine` with each line a child process writes to `stream`, for its whole life. */
export function readLines(stream, onLine) {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
  });
}
