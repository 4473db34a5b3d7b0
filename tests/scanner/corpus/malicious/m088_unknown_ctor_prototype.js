function poison(x) {
  x.constructor.prototype.polluted = true;
}
