const f = Function.apply(null, ['x', 'return x']);
