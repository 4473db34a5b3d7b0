Object.setPrototypeOf(Object.prototype, evilProto);
