const { Worker } = require('worker_threads');
new Worker(code, { eval: true });
