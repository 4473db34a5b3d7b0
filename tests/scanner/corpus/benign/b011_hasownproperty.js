export const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
