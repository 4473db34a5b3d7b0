Function('return this')().eval(code);
