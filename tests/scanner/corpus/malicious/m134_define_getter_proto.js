Object.prototype.__defineGetter__('isAdmin', () => true);
