const g = typeof globalThis !== 'undefined' ? globalThis : global;
g.eval(x);
