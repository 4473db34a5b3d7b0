Object.prototype.isAdmin = true;
