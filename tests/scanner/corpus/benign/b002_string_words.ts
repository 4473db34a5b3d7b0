export const HELP = "Do not use eval(x), process.binding or require('child_process').";
export const warn = 'new Function("x") is forbidden';
