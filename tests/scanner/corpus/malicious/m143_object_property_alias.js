const ctx = { g: globalThis };
ctx.g['eval'](payload);
