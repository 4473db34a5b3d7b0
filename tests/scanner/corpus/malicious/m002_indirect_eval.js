const code = 'globalThis.x = 1';
(0, eval)(code);
