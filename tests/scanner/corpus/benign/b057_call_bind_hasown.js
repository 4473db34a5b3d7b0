var hasOwn = typeof Object.hasOwn === 'undefined' ? Function.call.bind(Object.prototype.hasOwnProperty) : Object.hasOwn;
module.exports = function merge(target, source) {
  for (var key in source) if (hasOwn(source, key)) target[key] = source[key];
};
