export function Emitter() {
  const self = this;
  self.handlers = {};
  self.emit = function (name, arg) { return self.handlers[name](arg); };
  self.call = (method) => self[method]();
}
