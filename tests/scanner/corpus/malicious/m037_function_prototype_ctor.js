Function.prototype.constructor(payload)();
