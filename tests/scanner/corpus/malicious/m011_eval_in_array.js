const fns = [eval];
fns[0](input);
