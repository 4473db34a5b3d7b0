(function () { return this; })().eval(code);
