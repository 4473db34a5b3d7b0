function merge(t, s) {
  t['__proto__']['isAdmin'] = s;
}
