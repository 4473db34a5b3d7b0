export function decodeImage(b64: string): Uint8Array {
  return new Uint8Array(Buffer.from(b64, 'base64'));
}
export const header = Buffer.from('iVBORw0KGgo=', 'base64');
