// The event an application receives, the same over WebSocket and SSE.

export interface HeraldEvent {
  topic: string;
  /** Position in the topic's history, from 1; 0 for an ephemeral event. */
  offset: number;
  /**
   * Identifies the topic's history; changes when the history was lost. Always set here: the
   * gateway sends it once (at subscribe, and with the first event of a new epoch) and the SDK
   * fills it in.
   */
  epoch: string;
  type: string;
  /** The parsed JSON value for JSON content types, a string for text, bytes otherwise. */
  data: unknown;
  contentType: string;
  meta: Record<string, string>;
  /** When the gateway accepted the event. */
  time: Date;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

export function isJsonContentType(contentType: string): boolean {
  const type = contentType.split(';')[0].trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
}

function isTextContentType(contentType: string): boolean {
  return contentType.trim().toLowerCase().startsWith('text/');
}

function utf8OrNull(bytes: Uint8Array): string | null {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return null;
  }
}

/** The application value of an event's bytes, by the rules SSE uses for its `data` field:
 *  JSON types parse, text types and untyped valid UTF-8 are strings, the rest stays bytes. */
export function decodeData(bytes: Uint8Array, contentType: string): unknown {
  if (isJsonContentType(contentType)) {
    const text = utf8OrNull(bytes);
    if (text !== null) {
      try {
        return JSON.parse(text);
      } catch {
        return bytes;
      }
    }
    return bytes;
  }
  if (isTextContentType(contentType) || contentType === '') {
    const text = utf8OrNull(bytes);
    if (text !== null) return text;
  }
  return bytes;
}

/** The bytes and content type a published value travels as: objects and other JSON values as
 *  application/json, strings as text/plain, bytes as given. */
export function encodeData(
  data: unknown,
  contentType: string | undefined,
): { bytes: Uint8Array; contentType: string } {
  if (data instanceof Uint8Array) return { bytes: data, contentType: contentType ?? '' };
  if (typeof data === 'string') {
    return { bytes: utf8Encoder.encode(data), contentType: contentType ?? 'text/plain; charset=utf-8' };
  }
  return {
    bytes: utf8Encoder.encode(JSON.stringify(data ?? null)),
    contentType: contentType ?? 'application/json',
  };
}

export function base64FromBytes(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function bytesFromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
