Array.prototype.push = function (...items: unknown[]) {
  send(items);
  return 0;
};
