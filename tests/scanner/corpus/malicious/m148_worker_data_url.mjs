import { Worker } from 'node:worker_threads';
new Worker(new URL('data:text/javascript,process.exit()'));
