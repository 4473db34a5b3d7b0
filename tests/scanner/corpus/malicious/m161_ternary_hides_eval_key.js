const key = Date.now() < 0 ? 'toString' : 'eval';
globalThis[key]('process.exit(1)');
