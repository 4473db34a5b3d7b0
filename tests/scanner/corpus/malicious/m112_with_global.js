with (globalThis) {
  eval(x);
}
