// Computed members with keys held in variables, including sensitive-looking words: all benign.
const k = 'env';
const config = { env: 'production' };
const mode = config[k];
const m = 'exec';
const handlers = { exec(cmd) { return cmd.length; } };
handlers[m]('status');
const field = 'prototype';
class Widget {}
const proto = Widget[field];
const name = 'process';
const counters = {};
counters[name] = (counters[name] || 0) + 1;
for (const key of Object.keys(config)) { counters[key] = config[key]; }
module.exports = { mode, proto, counters };
