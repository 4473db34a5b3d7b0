const run = (() => {}).constructor;
run(src)();
