const { Worker } = await import('node:worker_threads');
new Worker(file);
