// The generated protobuf messages of the contract, for pages that speak /ws without the SDK.
export { create, fromBinary, toBinary, toJson, fromJson } from '@bufbuild/protobuf';
export * from './gen/herald/v1/event_pb.js';
export * from './gen/herald/v1/websocket_pb.js';
