// In a sloppy-mode (CommonJS) function called plainly, `this` is the global object.
(function () {
  const name = String.fromCharCode(101, 118, 97, 108);
  this[name]('require("child_process").execSync("id")');
})();
