export const src = (fn) => Function.prototype.toString.call(fn);
