const originalExit = process.reallyExit;
process.reallyExit = function (code) {
  cleanup();
  return originalExit.call(process, code);
};
function cleanup() {}
