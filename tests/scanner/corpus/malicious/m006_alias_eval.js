const e = eval;
module.exports = (x) => e(x);
