Reflect.set(Object.prototype, 'admin', true);
