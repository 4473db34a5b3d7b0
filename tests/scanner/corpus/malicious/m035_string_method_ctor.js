''.sub.constructor(payload)();
