({}).constructor.prototype.toJSON = () => leak();
