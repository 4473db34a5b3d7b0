const Module = require('module');
const orig = Module._load;
Module._load = function (r, p, i) { return orig(r, p, i); };
