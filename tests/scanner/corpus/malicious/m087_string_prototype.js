String.prototype.toString = function () { return 'x'; };
