// Ternaries choosing between ordinary strings: method names, module names, modes. All benign.
const re = /a+/g;
const found = re[re.global ? 'exec' : 'test']('aaa');
const impl = require(typeof window === 'undefined' ? 'path' : 'path-browserify');
const mode = process.env.CI ? 'ci' : 'local';
const target = {};
target[mode === 'ci' ? 'spawn' : 'fork'] = () => mode;
module.exports = { found, impl, target };
