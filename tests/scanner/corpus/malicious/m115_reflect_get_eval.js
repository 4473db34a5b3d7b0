Reflect.get(globalThis, 'ev' + 'al')(code);
