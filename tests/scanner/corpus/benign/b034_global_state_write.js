const g = globalThis;
g.__myExtensionState = g.__myExtensionState || { count: 0 };
