Function(code)();
