export const ESC = String.fromCharCode(27);
export const ctrl = (c: string) => String.fromCharCode(c.charCodeAt(0) & 31);
