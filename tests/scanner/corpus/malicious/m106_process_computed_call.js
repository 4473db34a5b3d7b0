function f(k, a) { return process[k](a); }
