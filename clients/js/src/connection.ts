// What the client core needs from one connection attempt, whatever the transport.
import type { HeraldError } from './errors.js';
import type { HeraldEvent } from './event.js';

/** The gateway's answer to a subscription: the topic's epoch and last offset, and whether
 *  every missed event was replayed. */
export interface SubscribeAnswer {
  topic: string;
  epoch: string;
  offset: number;
  recovered: boolean;
}

/** Where a subscription resumes from: the last event it has seen. */
export interface Position {
  epoch: string;
  offset: number;
}

export interface ConnectionListener {
  /** The connection is up; `subscriptions` answers the topics it was opened with, and
   *  `clientId` is the id the gateway gave it. */
  onOpen(subscriptions: SubscribeAnswer[], clientId: string): void;
  onEvent(event: HeraldEvent): void;
  /** The subscribe command `requestId` was answered (WebSocket). */
  onSubscribed(answer: SubscribeAnswer, requestId: number): void;
  onSubscribeFailed(topic: string, error: HeraldError, requestId: number): void;
  /** The gateway took `topic` off the connection (an operator's Admin.Unsubscribe). */
  onUnsubscribed(topic: string): void;
  /** The connection ended. `opened` tells whether it had come up; `reconnectAfterMs`, when the
   *  gateway suggested a wait before reconnecting (a drain spreading its clients). Called once. */
  onClose(code: number, reason: string, opened: boolean, reconnectAfterMs?: number): void;
  /** Something went wrong that the application should hear of (a malformed frame, ...). */
  onError(error: HeraldError): void;
}

export interface Connection {
  readonly transport: 'websocket' | 'sse';
  /** Closes without calling onClose. */
  dispose(): void;
}
