const run = eval.bind(null);
run(code);
