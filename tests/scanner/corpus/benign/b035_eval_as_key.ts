export const options = { eval: true, exec: false };
export const flag = options.eval && !options.exec;
