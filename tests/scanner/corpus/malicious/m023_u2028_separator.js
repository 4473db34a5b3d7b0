const a = 1 eval(payload) const b = 2;
