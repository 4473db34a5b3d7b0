(0, Function)('return 1')();
