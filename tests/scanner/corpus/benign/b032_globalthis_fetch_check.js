export const hasFetch = typeof globalThis.fetch === 'function';
