exports.a = 1;
module.exports.b = 2;
const path = require.resolve('./b042_module_exports.js');
module.exports.where = path;
