// The Function constructor reached through a computed member whose key sits in a variable.
const k = 'constructor';
const run = ({})[k][k]('return process')();
module.exports = run;
