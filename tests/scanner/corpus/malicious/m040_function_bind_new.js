const F = Function.bind(null, 'return 2');
new F();
