globalThis
  [
    'ev' +
    'al'
  ](code);
