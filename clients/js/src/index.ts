// Herald's browser SDK: `new Herald({ url })`, subscribe, publish.
export { Herald, tokenExpiryMs } from './herald.js';
export type {
  ConnectionState,
  HistoryPage,
  HeraldOptions,
  PresenceClient,
  PresenceMember,
  PresencePage,
  PublishOptions,
  PublishResult,
  RecoveryResult,
  StateChange,
  SubscribeOptions,
  Subscription,
  SubscriptionHandlers,
  TransportName,
} from './herald.js';
export { HeraldError, CloseCode, StatusCode } from './errors.js';
export type { HeraldEvent } from './event.js';
export { Backoff } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export type { Position } from './connection.js';
