function _setPrototypeOf(o, p) {
  _setPrototypeOf = Object.setPrototypeOf ? Object.setPrototypeOf.bind() : function (o, p) { o.__proto__ = p; return o; };
  return _setPrototypeOf(o, p);
}
function _isNativeReflectConstruct() {
  try { Boolean.prototype.valueOf.call(Reflect.construct(Boolean, [], function () {})); return true; } catch (e) { return false; }
}
function _construct(Parent, args, Class) {
  return Reflect.construct(Parent, args, Class);
}
function _isNativeFunction(fn) {
  return Function.toString.call(fn).indexOf('[native code]') !== -1;
}
function _inherits(subClass, superClass) {
  subClass.prototype = Object.create(superClass && superClass.prototype, { constructor: { value: subClass, writable: true } });
  if (superClass) _setPrototypeOf(subClass, superClass);
}
module.exports = { _construct, _inherits, _isNativeFunction, _isNativeReflectConstruct };
