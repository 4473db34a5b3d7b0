function Widget(name) { this.name = name; }
Widget.prototype.render = function () { return '<' + this.name + '>'; };
module.exports = Widget;
