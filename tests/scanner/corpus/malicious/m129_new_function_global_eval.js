const g = new Function('return this')();
g.eval(code);
