const fn = globalThis[key];
fn(code);
