function call(name, arg) {
  return globalThis[name](arg);
}
call(process.argv[2], process.argv[3]);
