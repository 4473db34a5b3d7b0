const name = 'worker_threads';
const wt = require(name);
