const F = Function;
F(payload)();
