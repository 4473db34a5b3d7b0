Object.defineProperty(Object.prototype, 'then', { get() { return hijack; } });
